"""Same app as ../pydantic_ai_v6/app.py, run with Pydantic AI's default instrumentation format version 5
(InstrumentationSettings(version=5)). Reproduce: see ../pydantic_ai_v6/app.py (requirements.txt is the same)."""
import runpy
import sys
from pathlib import Path

sys.argv = [sys.argv[0], "5"]
runpy.run_path(str(Path(__file__).resolve().parents[1] / "pydantic_ai_v6" / "app.py"), run_name="__main__")
