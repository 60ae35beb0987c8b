"""The `tinyconv` command besides training (tinyconv.__main__)."""

from tinyconv.__main__ import main


def test_warmup_compiles_the_kernels(capsys):
    assert main(["warmup"]) == 0
    captured = capsys.readouterr()
    assert "float32 kernels ready" in captured.err + captured.out


def test_no_command_prints_help(capsys):
    assert main([]) == 1
    assert "train" in capsys.readouterr().out


def test_ctrl_c_while_starting_up_exits_130_without_a_traceback(monkeypatch, capsys):
    # the parser imports the model zoo to list its builders: the slowest part of starting
    from tinyconv import training

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "model_builders", interrupted)
    assert main(["train", "--epochs", "1"]) == 130
    assert capsys.readouterr().err.strip() == "tinyconv: interrupted"
