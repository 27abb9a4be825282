// What a BI tool (Metabase, Superset via JDBC bridges, DBeaver...) sees of aispend through the PostgreSQL JDBC
// driver, connected as a read-only role: the default-period views and the daily fact view are listed by
// DatabaseMetaData with concrete column types and remarks (the COMMENTs), each can be queried, and nothing
// administrative is reachable. Usage: java -cp .:postgresql.jar BiMetadataCheck URL USER PASSWORD
// Prints "ok - ..." / "not ok - ..." per check; exits 1 if any failed.
import java.sql.*;
import java.util.*;

public class BiMetadataCheck {
    static int passed = 0, failed = 0;

    static void check(boolean ok, String what, String detail) {
        if (ok) passed++; else failed++;
        System.out.println((ok ? "ok - " : "not ok - ") + what + (ok || detail.isEmpty() ? "" : ": " + detail));
    }

    // The SQLSTATE of running sql, or "" when it succeeds.
    static String sqlState(Connection c, String sql) {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
            return "";
        } catch (SQLException e) {
            return e.getSQLState() == null ? "?" : e.getSQLState();
        }
    }

    public static void main(String[] args) throws Exception {
        Set<Integer> concrete = new HashSet<>(Arrays.asList(Types.NUMERIC, Types.DECIMAL, Types.BIGINT, Types.INTEGER,
            Types.SMALLINT, Types.DOUBLE, Types.REAL, Types.VARCHAR, Types.CHAR, Types.LONGVARCHAR, Types.DATE,
            Types.TIMESTAMP, Types.TIMESTAMP_WITH_TIMEZONE, Types.BOOLEAN, Types.BIT));
        Set<String> bad = new HashSet<>(Arrays.asList("unknown", "record", "anyelement", "anyarray", "void"));
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData md = c.getMetaData();
            check(true, "connected as " + md.getUserName() + " with " + md.getDriverName() + " "
                  + md.getDriverVersion(), "");

            List<String> views = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "aispend", "%", new String[] {"VIEW"})) {
                while (rs.next()) {
                    String name = rs.getString("TABLE_NAME");
                    if (name.endsWith("_30d") || name.equals("daily_facts")) {
                        views.add(name);
                        check(rs.getString("REMARKS") != null && !rs.getString("REMARKS").isEmpty(),
                              "view aispend." + name + " has a remark (COMMENT)", "REMARKS empty");
                    }
                }
            }
            Collections.sort(views);
            check(views.contains("daily_facts") && views.contains("workspaces_summary_30d")
                  && views.contains("api_keys_table_30d") && views.contains("models_table_30d")
                  && views.size() >= 10,
                  "getTables lists the default-period views and daily_facts (" + views.size() + ")", views.toString());

            for (String v : views) {
                List<String> problems = new ArrayList<>();
                int columns = 0;
                try (ResultSet rs = md.getColumns(null, "aispend", v, "%")) {
                    while (rs.next()) {
                        columns++;
                        String col = rs.getString("COLUMN_NAME"), type = rs.getString("TYPE_NAME");
                        int jdbc = rs.getInt("DATA_TYPE");
                        String remarks = rs.getString("REMARKS");
                        // Arrays (accounts name[], workspace_ids text[]) are concrete too: BI tools show them as text.
                        // So is jsonb (FOCUS's JSON columns Tags and SkuPriceDetails): Metabase reads it as JSON and
                        // unfolds its keys, Grafana and Superset show it as text.
                        boolean ok = (concrete.contains(jdbc) || (jdbc == Types.ARRAY && type.startsWith("_"))
                                      || (jdbc == Types.OTHER && type.equals("jsonb")))
                                     && !bad.contains(type);
                        if (!ok) problems.add(col + " has type " + type + " (java.sql.Types " + jdbc + ")");
                        if (remarks == null || remarks.isEmpty()) problems.add(col + " has no remark");
                    }
                }
                check(columns > 0 && problems.isEmpty(),
                      "aispend." + v + ": " + columns + " columns with concrete types and remarks",
                      String.join("; ", problems));
                int rows = 0;
                String error = "";
                try (Statement s = c.createStatement();
                     ResultSet rs = s.executeQuery("SELECT * FROM aispend." + v + " LIMIT 5")) {
                    while (rs.next()) rows++;
                } catch (SQLException e) {
                    error = e.getSQLState() + " " + e.getMessage();
                }
                check(error.isEmpty(), "SELECT * FROM aispend." + v + " LIMIT 5 (" + rows + " rows)", error);
            }

            check(sqlState(c, "SELECT * FROM aispend.accounts").equals("42501"),
                  "aispend.accounts (servers and key status) is not readable: 42501",
                  sqlState(c, "SELECT * FROM aispend.accounts"));
            check(sqlState(c, "CALL aispend.sync()").equals("42501"), "CALL aispend.sync() is refused: 42501",
                  sqlState(c, "CALL aispend.sync()"));
            String fetchState = sqlState(c, fetchCall(c));
            check(fetchState.equals("42501"), "calling aispend._fetch_usage is refused: 42501", fetchState);
            String renameState = sqlState(c, "UPDATE aispend.workspaces SET display_name = 'x'");
            check(renameState.equals("42501"),
                  "renaming a workspace is refused (42501)", renameState);
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*), count(umoptions) FROM pg_catalog.pg_user_mappings "
                                               + "WHERE usename IS DISTINCT FROM current_user")) {
                rs.next();
                check(rs.getInt(1) > 0 && rs.getInt(2) == 0,
                      "pg_user_mappings.umoptions (admin keys) is NULL for others' mappings (" + rs.getInt(1)
                      + " mappings)", rs.getInt(2) + " visible");
            }
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM aispend.workspaces_summary_30d")) {
                rs.next();
                check(rs.getInt(1) == 1, "the reader can run the dashboard (workspaces_summary_30d has its row)", "");
            }
            String report = "";
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT aispend.report_html()")) {
                rs.next();
                report = rs.getString(1);
            } catch (SQLException e) {
                report = e.getSQLState() + " " + e.getMessage();
            }
            check(report.startsWith("<!DOCTYPE html>"), "the reader can make the chart report (aispend.report_html())",
                  report.length() > 80 ? report.substring(0, 80) : report);
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    // A call of aispend._fetch_usage with typed NULLs of its own signature (the privilege check comes first).
    static String fetchCall(Connection c) {
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY i) "
                 + "FROM pg_catalog.pg_proc p, unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i) "
                 + "WHERE p.proname = '_fetch_usage' AND p.pronamespace = 'aispend'::regnamespace GROUP BY p.oid "
                 + "LIMIT 1")) {
            if (rs.next()) return "SELECT * FROM aispend._fetch_usage(" + rs.getString(1) + ")";
        } catch (SQLException e) {
            // fall through: the call below fails with "does not exist", which the check reports
        }
        return "SELECT * FROM aispend._fetch_usage()";
    }
}
