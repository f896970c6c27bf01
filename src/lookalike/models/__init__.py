"""The kinds of model a user trains, saves and loads: the embedding model (:mod:`.model`,
learned by :mod:`.train`), galleries (:mod:`.gallery`) and the article's CNN (:mod:`.article`),
all answering through one interface (:mod:`.recognizer`), found by name in :mod:`.kinds` and
stored in one container (:mod:`.archive`)."""
