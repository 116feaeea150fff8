"""SightSound-mini: tiny teacher, verifier and student of the real architectures that know something.

- :mod:`.splits`       which synthetic seeds serve pretraining, distillation and test (disjoint)
- :mod:`.targets`      what each role learns to say, from the scene graph (ground truth by construction)
- :mod:`.roles`        architecture, size and training examples of each role
- :mod:`.features`     examples -> cached tensors -> batches
- :mod:`.pretrain`     ``sightsound pretrain``: train a role from scratch on CPU
- :mod:`.evaluate`     held-out accuracy of a role on its own task
- :mod:`.checkpoints`  the shipped (or cached) checkpoints: ``mini_model_dir(role)``
"""
