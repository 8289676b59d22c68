"""Regenerate forms/risk_params.schema.json: ``python -m loanflow.workers.risk.schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from loanflow.workers.risk._params import risk_parameters_schema


def render() -> str:
    return json.dumps(risk_parameters_schema(), ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("forms/risk_params.schema.json")
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
