"""``./run.sh calibrate [draws] [--processes=N] [--cases=...] [--designs=...] [--power=no]``, or
``./run.sh calibrate aa|aso ...``: the calibration tables docs/EXPERIMENTS.md records."""

import sys

from .draws import _printer, null_table, power_table
from .scenarios import CASES, RUN_NOISE, SEED_NOISE


def main(argv: list[str]) -> None:
    if argv[:1] in (["aa"], ["aso"]):
        from .aa import main as aa_main

        aa_main(argv)
        return
    arguments = [a for a in argv if not a.startswith("--")]
    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    draws, processes = int(arguments[0]) if arguments else 4000, int(options.get("processes", 1))
    cases = options["cases"].split(",") if options.get("cases") else [*CASES, "d"]
    if options.get("findings"):
        options["findings"] = options["findings"].split(",")
    print(f"run noise {RUN_NOISE}, seed noise {SEED_NOISE}; cases {', '.join(cases)} (docs/EXPERIMENTS.md)", flush=True)
    designs = options.get("designs", "fixed,sequential").split(",")
    if options.get("null", "yes") != "no":
        null_table(draws, findings=options.get("findings"), cases=cases, processes=processes, each=_printer(),
                   designs=designs, cells=int(options["cells"]) if options.get("cells") else None)
    if options.get("power", "yes") != "no":
        print()
        power_table(int(options.get("power_draws", 1000)), processes=processes,
                    cases=options.get("power_cases", "null,e").split(","), each=_printer())


if __name__ == "__main__":
    main(sys.argv[1:])
