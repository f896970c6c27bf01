"""From vectors to answers: heads that learn people (:mod:`.heads`), the ranking every surface
shows (:mod:`.ranking`), which face an answer is for (:mod:`.subject`), two photos compared
(:mod:`.comparison`, calibrated by :mod:`.verification`) and why two faces are alike
(:mod:`.why`, answered on matches by :mod:`.explain`)."""
