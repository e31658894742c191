"""Events, deadlines and members: the models, the one set of checks every door uses, lookups, and the services that take a Session and `now`. May import db and the leaves."""
