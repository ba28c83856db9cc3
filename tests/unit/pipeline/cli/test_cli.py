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
    assert "--users: must be at least 1" in capsys.readouterr().err


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


def test_generate_has_the_default_datas_sizes_and_seed():
    from pipeline.cli import build_parser
    from pipeline.config import DefaultData

    args = build_parser().parse_args(["generate", "--out", "/tmp/x"])
    d = DefaultData()
    assert (args.users, args.cycles, args.seed) == (d.users, d.cycles, d.seed)


def test_generate_into_an_existing_file_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "data.txt"
    target.write_text("not a directory")
    rc = main(["generate", "--users", "1", "--cycles", "1", "--out", str(target), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"--out {target} is a file" in err and "Traceback" not in err
    assert target.read_text() == "not a directory"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON (line 1, column 2"),
        ("", "is not valid JSON (line 1, column 1"),
        ("[1, 2]", "must hold a JSON object or a list of objects"),
    ],
)
def test_predict_names_the_night_file_it_cannot_read(tmp_path, capsys, content, expected):
    night = tmp_path / "night.json"
    night.write_text(content)
    rc = main(["predict", "--local", str(tmp_path), "--night", str(night)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"cyclecast predict: --night {night} {expected}" in err


def test_predict_names_a_missing_night_file(tmp_path, capsys):
    rc = main(["predict", "--local", str(tmp_path), "--night", str(tmp_path / "none.json")])
    assert rc == 2
    assert f"cannot read --night {tmp_path / 'none.json'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "list"],
        ["runs", "show", "latest"],
        ["models", "list"],
        ["report"],
    ],
)
def test_run_state_commands_read_the_given_workdir(tmp_path, capsys, argv):
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    rc = main([*argv, "--workdir", str(workdir)])
    err = capsys.readouterr().err
    assert rc == 2
    # the store they look for is the one under --workdir, not ./.cyclecast
    assert str(workdir.resolve() / "metadata.db") in err


def test_evaluate_reads_the_given_workdir(tmp_path, capsys):
    workdir = tmp_path / "elsewhere"
    rc = main(["evaluate", "--workdir", str(workdir)])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(workdir.resolve() / "metadata.db") in err


def test_ids_are_counted_per_action(capsys):
    assert main(["runs", "compare", "a"]) == 2
    assert "runs compare takes 2 id(s), got 1" in capsys.readouterr().err
    assert main(["runs", "export", "a"]) == 2
    assert "runs export needs --mlflow-uri" in capsys.readouterr().err


def test_bad_param_and_scales_are_argument_errors(capsys):
    with pytest.raises(SystemExit):
        main(["submit", "--host", "http://127.0.0.1:1", "--param", "novalue"])
    assert "--param takes KEY=VALUE" in capsys.readouterr().err
    assert main(["bench", "--whole-run-scales", "1,x"]) == 2
    assert "--whole-run-scales takes integers" in capsys.readouterr().err


def test_the_command_line_reaches_stages_through_pipeline():
    """pipeline/cli/ parses and prints; it imports components only through pipeline/."""
    import ast
    from pathlib import Path

    import pipeline.cli as cli

    offenders = []
    for path in sorted(Path(cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "components"]
    assert offenders == []
