"""Same app as ../strands_default/app.py (read its docstring for the setup and the commands), run with the
'attributes_only' variant -> folder strands_attributes_only."""
import runpy
import sys
from pathlib import Path

sys.argv = [sys.argv[0], "attributes_only"]
runpy.run_path(str(Path(__file__).resolve().parents[1] / "strands_default" / "app.py"), run_name="__main__")
