"""The demo: a local consortium of lenders, generated data, and the scenarios `unseen demo` runs."""
