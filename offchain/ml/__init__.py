"""Secure models: logistic regression trained and applied on secret-shared joint data.

Modules in dependency order (each imports only from those above it, the
engine and the data layer):

=================  ===================================================================
``approximations``  piecewise-linear sigmoids and softplus, exactly specified
``ranges``          the fixed-point budget: every bound, derived in one place
``schedule``        public randomness: validation split, mini-batch order
``kernels``         fused MPC kernels: scaled truncation, batched comparisons, g(z)
``normalization``   reciprocal and inverse square root by normalisation and Newton
``standardize``     column statistics and standardisation in MPC
``sgd``             mini-batch SGD with per-step range checks
``reference``       the same algorithms in plaintext numpy (what tests compare with)
``metrics``         AUC (oblivious sort), accuracy and log-loss on shares
``model``           model card and hash, each node's shares, model stores
``alignment``       rows of column-split owners aligned by PSI
``spec``            program texts of model jobs
``owner``           what an owner does locally before sharing
``programs``        the ``logreg_train`` and ``logreg_predict`` job programs
``local``           running a model job end to end in one process (or over TLS)
=================  ===================================================================

docs/ML.md gives the protocols, the bounds, what each party learns and the
measured performance.
"""
