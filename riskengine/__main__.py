from riskengine.cli import app

app(prog_name="riskengine")
