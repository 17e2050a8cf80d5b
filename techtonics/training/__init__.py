"""Training and evaluation: one object per problem (tasks), the job (trainer), the tf.data input
(input_pipeline), and evaluating an export on a split (evaluation, with metrics and figures)."""
