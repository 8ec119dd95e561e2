"""Earning rules and the other pure decisions of the program: how an order or an action earns
points (every award explained), the tier ladder, when points expire. Plain functions over plain
data: no database, no clock."""
