"""The `tinyconv` command besides training (tinyconv.__main__)."""

from tinyconv.__main__ import main


def test_warmup_compiles_the_kernels(capsys):
    assert main(["warmup"]) == 0
    captured = capsys.readouterr()
    assert "float32 kernels ready" in captured.err + captured.out


def test_no_command_prints_help(capsys):
    assert main([]) == 1
    assert "train" in capsys.readouterr().out
