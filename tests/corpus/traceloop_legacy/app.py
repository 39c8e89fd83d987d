"""The traceloop app with traceloop-sdk 0.47.5 (flattened gen_ai.prompt.* / gen_ai.completion.*), pinned in
requirements.txt here; the commands are in ../traceloop/app.py, with `traceloop_legacy` as the argument."""
import runpy
import sys
from pathlib import Path

sys.argv = [sys.argv[0], "traceloop_legacy"]
runpy.run_path(str(Path(__file__).resolve().parents[1] / "traceloop" / "app.py"), run_name="__main__")
