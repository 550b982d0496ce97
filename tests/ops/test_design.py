"""docs/DESIGN.md stays true to the tree: linked from the README, every file it
names exists, every layered folder of scripts/check-layers.py is in its Layers
table in the checker's order, and every operation file is named."""
import os
import re

import opslib

DESIGN = os.path.join(opslib.REPO, "docs", "DESIGN.md")


def design():
    return opslib.read(DESIGN)


def test_the_readme_links_the_design():
    assert "(docs/DESIGN.md)" in opslib.read(os.path.join(opslib.REPO, "README.md"))


def test_every_file_it_names_exists():
    text = design()
    named = set(re.findall(r"`((?:common|db|engine|offsite|alerts|conf|routes|cli|server|static|scripts|"
                           r"tests|bench|deploy)/[A-Za-z0-9_./*-]+)`", text))
    assert len(named) > 40, named
    missing = [p for p in sorted(named) if "*" not in p and not os.path.exists(os.path.join(opslib.REPO, p))]
    assert not missing, "DESIGN.md names files that are not there: %s" % missing


def test_the_layers_table_follows_the_checker():
    src = opslib.read(os.path.join(opslib.REPO, "scripts", "check-layers.py"))
    block = src[src.index("LAYERS = ["):src.index("]\nMAX_LINES")]
    order = re.findall(r'"([a-z]+)"', block)
    rows = re.findall(r"^\| (\d+) \| `([a-z]+)/` \|", design(), re.M)
    table = [folder for _, folder in rows]
    assert table == order, (table, order)
    ranks = {}
    for layer, folder in rows:
        ranks[folder] = int(layer)
    for a, b in zip(order, order[1:]):
        assert ranks[a] <= ranks[b], (a, b)


def test_every_operation_file_is_named():
    ops = sorted(f for f in os.listdir(os.path.join(opslib.REPO, "engine"))
                 if f.startswith("op_") and f.endswith(".c"))
    text = design()
    assert ops and all("`%s`" % f in text for f in ops), [f for f in ops if "`%s`" % f not in text]
