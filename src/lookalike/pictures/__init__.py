"""What a person looks at: the shared matplotlib set-up (:mod:`.plots`), the look-alike card
(:mod:`.cards`), the compare card (:mod:`.compare_card`, with :mod:`.why_card`) and the HTML
reports (:mod:`.report`, with :mod:`.report_faces`)."""
