"""Is the decision rule calibrated? The tools behind ``./run.sh calibrate``, above the findings
whose own code they judge: ``scenarios`` (synthetic runs tables whose truth is known, at the least
favourable nulls), ``draws`` (the false-verdict and power tables over many draws, fixed and
sequential designs) and ``aa`` (the A/A run of real finetunes and almost stochastic order)."""
