"""Same app as ../strands_default/app.py (read its docstring for the setup and the commands), run with the
'latest' variant -> folder strands_latest."""
import runpy
import sys
from pathlib import Path

sys.argv = [sys.argv[0], "latest"]
runpy.run_path(str(Path(__file__).resolve().parents[1] / "strands_default" / "app.py"), run_name="__main__")
