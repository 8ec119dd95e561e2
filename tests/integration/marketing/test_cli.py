"""`guanxi tags refresh` runs every active rule (or one) and says what changed."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.customers import notes
from guanxi.customers.models import CustomerTag
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.marketing import tag_rules
from guanxi.marketing.schemas import TagRuleIn
from tests.integration.marketing.planted import frozen, plant

__all__ = ["frozen"]
runner = CliRunner()


def test_refresh_all_and_one(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    with db.unit_of_work() as session:
        vip = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}
        tag_rules.create_rule(session, SYSTEM, TagRuleIn(code="vip", tag="贵宾", conditions=vip))
        notes.add_tag(session, SYSTEM, planted.ids["赵强"], "VIP")
    result = runner.invoke(app, ["tags", "refresh"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "vip (贵宾): 3 match, +1 tagged, -0 untagged"
    with db.unit_of_work(read_only=True) as session:
        assert len(list(session.scalars(select(CustomerTag).where(CustomerTag.tag == "贵宾")))) == 3
    result = runner.invoke(app, ["tags", "refresh", "--rule", "vip"])
    assert result.output.strip() == "vip (贵宾): 3 match, +0 tagged, -0 untagged"
    result = runner.invoke(app, ["--lang", "en", "tags", "refresh", "--rule", "nope"])
    assert result.exit_code == 1
    assert "tag rule 'nope' not found" in result.output
