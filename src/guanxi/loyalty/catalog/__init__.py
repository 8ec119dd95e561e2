"""What points and tiers buy: the reward catalog (goods, services, cash offset, lottery draws, with
stock), redeeming rewards, coupon templates, issuing coupons by hand and by trigger, and coupons
at the till. Rewards and coupons share their tables, shapes, errors and router, and a reward can
be a coupon, so they form one sub-package."""
