-- Nothing in aispend is executable by PUBLIC: grant_reader() and grant_admin() decide who may do what.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM PUBLIC;
