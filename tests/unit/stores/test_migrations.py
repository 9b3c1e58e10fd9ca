"""Opening a store migrates it, and an up-to-date one opens without loading Alembic."""

import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from mlfactory.stores.sql.engine import HEADS, MIGRATIONS


def test_the_known_heads_are_the_migration_files_heads() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert set(ScriptDirectory.from_config(config).get_heads()) == HEADS  # add a new migration's id to HEADS


def test_an_up_to_date_store_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    program = (
        "import sys; from mlfactory.stores import open_metadata_store as o; o({url!r}).close(); "
        "print('alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", program.format(url=url)], capture_output=True, text=True)
    again = subprocess.run([sys.executable, "-c", program.format(url=url)], capture_output=True, text=True)
    assert first.stdout.strip() == "True", first.stderr  # a new database is created by Alembic
    assert again.stdout.strip() == "False", again.stderr
