"""Several devices and machines: the tf.distribute strategy and the chief (distribute), local multi-worker
jobs (launcher, run by tools/launch_local_cluster.py), and the tf.data service (data_service)."""
