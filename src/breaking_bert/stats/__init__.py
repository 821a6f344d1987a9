"""The decision rule's statistics, below everything that reports a verdict: ``spending`` (the
error levels: one-sided alpha, the sequential design's spending over looks, t and normal
quantiles), ``differences`` (a difference of two cells' scores with its interval, paired by seed,
with the eval set's sampling where the runs kept per-example values), ``decision`` (a claim's
three verdicts from intervals, Holm's correction over a finding's cells), ``sequential`` (the
looks: which cells continue, how the looks' verdicts combine) and ``eval_sampling`` (the
per-example values and the table of what the eval set's sampling adds)."""
