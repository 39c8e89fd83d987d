"""The mlflow_tagged app run with MLFLOW_ENABLE_OTEL_GENAI_SEMCONV=true (the GenAI semantic conventions);
the commands are in ../mlflow_tagged/app.py, with `mlflow_genai` as the argument."""
import runpy
import sys
from pathlib import Path

sys.argv = [sys.argv[0], "mlflow_genai"]
runpy.run_path(str(Path(__file__).resolve().parents[1] / "mlflow_tagged" / "app.py"), run_name="__main__")
