"""The command line: instant help without TensorFlow, clear errors on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components.nightly_features.job import InputError, check_input_root
from components.nightly_features.salt import SaltError, load_salt
from pipeline.cli import main


def test_help_does_not_import_tensorflow_or_beam():
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'tfx', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "generate" in out.stdout and "features" in out.stdout
    assert "HEAVY []" in out.stdout


def test_features_on_a_missing_root_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CYCLECAST_ID_SALT", "a-test-salt-0123456789")
    rc = main(["features", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


def test_input_root_checks(tmp_path):
    with pytest.raises(InputError, match="cycles.csv is missing"):
        check_input_root(str(tmp_path))
    (tmp_path / "cycles.csv").write_text("user,start\n")
    with pytest.raises(InputError, match="header"):
        check_input_root(str(tmp_path))
    (tmp_path / "cycles.csv").write_text(
        "user_id,cycle_index,start_date,length_days,ovulation_day,menses_days\n")
    with pytest.raises(InputError, match="no raw files"):
        check_input_root(str(tmp_path))


def test_generate_rejects_non_positive_sizes(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--users", "0", "--cycles", "1", "--seed", "1", "--out", "/tmp/x"])
    assert "--users must be at least 1" in capsys.readouterr().err


def test_salt_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("CYCLECAST_ID_SALT", raising=False)
    monkeypatch.delenv("CYCLECAST_ID_SALT_FILE", raising=False)
    with pytest.raises(SaltError, match="no user-id salt"):
        load_salt()
    local = tmp_path / "state" / "id_salt"
    first = load_salt(create_local=local)
    assert local.exists() and len(first) >= 32 and load_salt(create_local=local) == first
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(SaltError, match="shorter than 16"):
        load_salt(short)
    monkeypatch.setenv("CYCLECAST_ID_SALT", "from-the-environment-123")
    assert load_salt(create_local=local) == b"from-the-environment-123"
    assert load_salt(salt_file=local) == first  # an explicit file wins
