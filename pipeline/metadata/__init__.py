"""ML Metadata, below everything that reads or records runs.

``connection``: where the store lives (a SQLite file, MySQL, Kubeflow's gRPC service) and opening
it; ``store``: the one reader of what runs recorded; ``pushed_models``: the model versions the
Pusher recorded. Orchestration, serving and the run reports import these; these import none of
them.
"""
