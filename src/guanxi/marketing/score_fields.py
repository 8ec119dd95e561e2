"""The analytics' scores as fields of the condition language (segments and tag rules).

Each is a column of the customers' current scores (`analytics.models.CustomerScore`); a customer
with no scores (before the first run, or who refused profiling) matches no score condition, so
"churn risk < 30" never picks someone nobody scored.
"""

from __future__ import annotations

from guanxi.analytics.lifecycle import STAGES, VALUE_TIERS
from guanxi.analytics.models import CustomerScore
from guanxi.analytics.rfm import SEGMENTS
from guanxi.marketing.compiler import register_compiler, score_field_compiler
from guanxi.marketing.conditions import NUMBER_OPS, STRING_OPS, FieldSpec, ValueType, register_field

_SET_OPS = ("is_set", "is_not_set")


def _score(
    name: str, column: str, zh: str, en: str, value_type: ValueType, choices: tuple[str, ...] = (), keys: str = ""
) -> None:
    ops = STRING_OPS if value_type in ("string", "enum") else (*NUMBER_OPS, *_SET_OPS)
    extra = {"choice_keys": keys} if keys else {}
    field = f"score.{name}"
    register_field(
        FieldSpec(
            field, "custom", value_type, ops, zh, en, choices=choices, column=column, group="scores", extra=extra
        ),
        replace=True,
    )
    register_compiler(
        field, score_field_compiler(CustomerScore, CustomerScore.customer_id, getattr(CustomerScore, column))
    )


_score("rfm_segment", "rfm_segment", "RFM 分群", "RFM segment", "enum", SEGMENTS, "rfm.segment")
_score("lifecycle_stage", "lifecycle_stage", "生命周期阶段", "Lifecycle stage", "enum", STAGES, "lifecycle.stage")
_score("value_tier", "value_tier", "价值分层", "Value tier", "enum", VALUE_TIERS, "value_tier")
_score("r_score", "r_score", "R 分", "R score", "integer")
_score("f_score", "f_score", "F 分", "F score", "integer")
_score("m_score", "m_score", "M 分", "M score", "integer")
_score("clv", "clv", "客户终身价值", "Customer lifetime value", "decimal")
_score("p_alive", "p_alive", "存活概率", "Probability alive", "decimal")
_score("churn_risk", "churn_risk", "流失风险分", "Churn risk score", "decimal")
_score("churn_probability", "churn_probability", "流失概率", "Churn probability", "decimal")
_score("churn_band", "churn_band", "流失风险等级", "Churn risk band", "enum", ("low", "medium", "high"), "churn.band")
