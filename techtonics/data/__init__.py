"""The data's one source of truth: STEAD's schema, labels and readers (stead), the TFRecord example and
manifest (records), subsets and splits (splits), and a converted dataset as readers see it (converted)."""
