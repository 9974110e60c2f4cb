#!/usr/bin/env bash
# CI: are pyproject.toml's lower bounds true? Install the LOWEST version it allows of every direct dependency
# (`uv pip install --resolution lowest-direct`; their own dependencies at the newest that fit) into a
# throwaway virtualenv, and run a fast subset of the tests against them.
# Usage: .ci/lowest.sh [pytest args...]   (PYTHON=python3.11 by default; needs PyPI, not the repository venv)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

started=$SECONDS
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
"$work/venv/bin/uv" pip install --quiet --python "$work/venv/bin/python" \
    --resolution lowest-direct '.[test]'
echo "+ installed the lowest direct versions in $((SECONDS - started)) s:"
"$work/venv/bin/uv" pip freeze --python "$work/venv/bin/python" \
    | grep -iE '^(pandas|numpy|scipy|pyarrow|scikit-learn|durable-rules|joblib|mlflow|shap|skops|pandera|python-stdnum|sqlalchemy|alembic|typer|pyyaml|openpyxl|fairlearn|matplotlib|tqdm|jinja2|markupsafe|psycopg|fastapi|starlette|uvicorn|pydantic|argon2-cffi|python-multipart|statsmodels|pyotp)=='

# The fast subset: each stage's own tests that need no server or browser, with the MLflow registry's (slow
# but the only check of mlflow and skops), the web workflows (fastapi, starlette), one discontinuity estimate
# (statsmodels) and the admins' one-time passwords (pyotp). Tests import the package from this checkout (pyproject's
# pythonpath); the installed copy supplies its metadata.
subset=(
    tests/features tests/rules/test_rules_language.py tests/rules/test_rules_check.py
    tests/upload/test_upload_validation.py tests/upload/test_upload_formats.py
    tests/upload/test_upload_absent_columns.py tests/model/test_spec.py tests/model/test_pipeline.py
    tests/model/test_training.py tests/model/test_tracking.py tests/flags/test_export.py
    tests/flags/test_explain_lookup.py tests/outcomes tests/web/test_web_workflows.py
    tests/impact/test_estimators.py::test_fuzzy_rd_recovers_a_known_local_effect
    tests/web/test_web_accounts.py::test_admins_must_set_up_an_authentication_app
)
existing=()
for path in "${subset[@]}"; do [[ -e ${path%%::*} ]] && existing+=("$path"); done
"$work/venv/bin/python" -m pytest -q -m "not postgres and not browser" -p no:cacheprovider \
    "${existing[@]}" "$@"
echo "+ lowest-direct check took $((SECONDS - started)) s"
