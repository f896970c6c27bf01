"""A photo to faces and vectors: the detector and alignment (:mod:`.detector`), the embedders
(:mod:`.embedders`), the order of a photo's faces (:mod:`.choose`), the three together with the
per-photo cache (:mod:`.pipeline`) and the same path on Dask workers (:mod:`.cluster`).
Nothing here knows about people or models."""
