"""`promote` takes stack names, never paths (issue 17, Low: "promote accepts stack names like ../x")."""

from __future__ import annotations

import pytest

from infra.cli import main


@pytest.mark.parametrize("name", ["../x", "..", "/etc/passwd", "a/b", ".hidden", "", "prod\nx"])
def test_a_path_or_non_stack_name_is_refused_with_one_line_and_nothing_read(tmp_path, capsys, name):
    # tmp_path holds no stack file and no git repository: before the fix `../x` named a file outside it
    # (Pulumi.../x.yaml) and the refusal was about that file; now the name itself is refused, first.
    (tmp_path / "outside").mkdir()
    code = main(["promote", "dev", name, "-C", str(tmp_path / "outside")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"promote refused: stack name {name!r} is not a stack name: letters, digits, '-', '_' and '.' "
                   "only, starting with a letter or digit (e.g. staging); name a Pulumi.<stack>.yaml of this "
                   "repository\n")


def test_pulumi_stack_names_with_dots_and_underscores_pass_the_name_check(tmp_path, capsys):
    # `seed-gke`, `eu_prod.v2` are valid Pulumi stack names: the refusal is then about the missing file, not the name.
    code = main(["promote", "seed-gke", "eu_prod.v2", "-C", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "is not a stack name" not in err and "no file Pulumi.seed-gke.yaml" in err
