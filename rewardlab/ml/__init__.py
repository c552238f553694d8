"""Reward-model code with no Django in it: torch, numpy, scikit-learn only.

Importing this package imports nothing; pick the module you need:
``encoders`` (embedding backends by name), ``cbm``, ``coarse``, ``pairwise``
(the reward models), ``registry`` (model types by name), ``io`` (save/load),
``metrics``.
"""
