"""Loyalty's generated sentences in both languages, from codes and figures kept with the rows."""

from __future__ import annotations

from decimal import Decimal

from guanxi.loyalty import explain
from guanxi.loyalty.rules.tiering import ReviewPolicy, TierDef, review, upgrade

SILVER = TierDef(code="silver", name="银卡会员", rank=2, threshold=Decimal(2000))
LADDER = [TierDef(code="basic", name="普通会员", rank=1, threshold=Decimal(0)), SILVER]
ZH = {"basic": "普通会员", "silver": "银卡会员"}
EN = {"basic": "Member", "silver": "Silver"}


def test_a_tier_upgrade_reason_in_chinese_and_english() -> None:
    decision = upgrade(LADDER, "basic", Decimal(2815))
    assert decision is not None
    assert explain.tier_reason(decision.reason, decision.detail, "zh-CN", ZH) == "成长值 2,815，达到银卡会员门槛 2,000"
    assert (
        explain.tier_reason(decision.reason, decision.detail, "en", EN)
        == "Growth value 2,815 reached the Silver threshold of 2,000"
    )


def test_a_review_keep_and_a_scheduled_downgrade() -> None:
    kept = review(LADDER, "silver", Decimal(2815), ReviewPolicy())
    assert explain.tier_reason(kept.reason, kept.detail, "zh-CN", ZH) == "成长值 2,815，达到银卡会员保级门槛 2,000"
    below = review(LADDER, "silver", Decimal(150), ReviewPolicy())
    detail = {"code": "below_scheduled", "params": {**below.params, "due": "2027-01-31"}}
    assert (
        explain.tier_reason(below.reason, detail, "zh-CN", ZH)
        == "成长值 150，低于银卡会员门槛 2,000；2027年1月31日 前未重新达标将降为普通会员"
    )
    assert (
        explain.tier_reason(below.reason, detail, "en", EN)
        == "Growth value 150 is below the Silver threshold of 2,000: down to Member on Jan 31, 2027 unless re-qualified"
    )


def test_rows_written_before_the_codes_still_display() -> None:
    # The common old sentences are said again in the reader's language...
    assert explain.tier_reason("enrolled at 普通会员", None, "zh-CN", ZH) == "入会，初始等级为普通会员"
    assert explain.tier_reason("enrolled at 普通会员", None, "en", EN | {"basic": "普通会员"}) == "Enrolled at 普通会员"
    old = "growth value 2815 maintained 银卡会员 threshold 2000"
    assert explain.tier_reason(old, None, "zh-CN", ZH) == "成长值 2,815，达到银卡会员保级门槛 2,000"
    # ...any other is shown as stored.
    assert explain.tier_reason("set by hand", None, "zh-CN", ZH) == "set by hand"
    assert explain.tier_reason("enrolled at 钻石卡", None, "zh-CN", ZH) == "enrolled at 钻石卡"


def test_an_award_explanation_in_both_languages() -> None:
    award = {
        "rule": "base",
        "kind": "base_rate",
        "points": 1000,
        "description": "消费积分: 1000.00 CNY at 1 point per 1 CNY = 1000 points",
        "params": {
            "rule": "消费积分",
            "amount": "1000.00",
            "currency": "CNY",
            "rate_points": "1",
            "per_amount": "1",
            "points": "1000",
        },
    }
    assert explain.award_text(award, "zh-CN") == "消费积分：消费 ¥1,000.00，每 ¥1.00 积 1 分，共 1,000 积分"
    assert explain.award_text(award, "en") == "消费积分: CN¥1,000.00 spent, earning 1 per CN¥1.00 = 1,000 points"
    trimmed = {**award, "params": {**award["params"], "trimmed": "200"}}
    assert explain.award_text(trimmed, "zh-CN").endswith("（受上限限制少计 200 积分）")
    # An award without figures keeps its own sentence.
    assert explain.award_text({"rule": "x", "description": "old text"}, "zh-CN") == "old text"


def test_campaign_and_tier_awards_name_things_in_the_language() -> None:
    campaign = {
        "kind": "campaign_multiplier",
        "params": {"rule": "周一双倍", "multiplier": "2", "base": "100", "points": "100", "weekday": "1"},
    }
    assert explain.award_text(campaign, "zh-CN") == "周一双倍：星期一 ×2，基础积分 100，额外 100 积分"
    assert explain.award_text(campaign, "en") == "周一双倍: Monday ×2 on 100 base points = 100 bonus points"
    tier = {
        "kind": "tier_multiplier",
        "params": {"rule": "等级加成", "multiplier": "1.5", "base": "800", "points": "400", "tier": "silver"},
    }
    assert explain.award_text(tier, "en", EN) == "等级加成: Silver ×1.5 on 800 base points = 400 bonus points"


def test_entry_summary_and_enum_labels() -> None:
    assert explain.entry_summary("earn", 808, "zh-CN") == "获得 +808 积分"
    assert explain.entry_summary("expire", -1150, "en") == "Expired -1,150 points"
    assert explain.label("loyalty.kind", "redeem", "zh-CN") == "使用"
    assert explain.label("loyalty.kind", "mystery", "zh-CN") == "mystery"
