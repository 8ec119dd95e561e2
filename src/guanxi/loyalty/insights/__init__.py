"""What the program costs and would cost: the points liability report and the what-if simulation
over past orders (read only), with their router."""
