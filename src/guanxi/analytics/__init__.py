"""Customer analytics: warehouse sync, RFM, lifecycle, CLV, churn, clusters, basket rules, KPIs."""
