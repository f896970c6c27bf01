"""How well a model answers: scores (:mod:`.scoring`), a labelled folder (:mod:`.evaluate`) and
the LFW benchmark (:mod:`.benchmark`)."""
