"""The steps of a reconcile pass, in the order `reconcile` runs them."""
