"""Photos in: decoding any photo safely (:mod:`.images`) and folders of people's photos
(:mod:`.folders`: layouts, splits, fingerprints). The ground the face path stands on."""
