"""stripe_standin: the drill lab stand-in for the Stripe API."""
