-- 70_report.sql: the chart report. aispend.report_html(period, provider) returns one self-contained HTML page
-- (inline CSS and SVG; no JavaScript, no external assets) with the four tabs of the Provider Dashboard: summary
-- cards, pie charts, current-vs-previous bar charts and tables with trend arrows and the efficiency star.
-- Every figure is read from the tab functions (aispend.workspaces_summary, ..._table, api_keys_top, ...): the
-- report formats, it does not compute. Every piece of user text goes through aispend.html_escape.
-- Export:  psql -Atc "SELECT aispend.report_html()" > report.html          See docs/report.md.

CREATE FUNCTION aispend.html_escape(value text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
           coalesce(value, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION aispend.html_escape(text) IS
    'Escapes text for HTML content and attribute values (& < > " and ''); NULL becomes the empty string.';

-- Number formats of the report (the test's checker formats the tab functions' values the same way).
CREATE FUNCTION aispend._report_money(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—'
            -- an absurd amount (a provider's error, a bad load) is shown as it is, never hidden or crashing
            WHEN pg_catalog.abs(value) >= 1e15
            THEN CASE WHEN value < 0 THEN '-' ELSE '' END || '$' || pg_catalog.btrim(pg_catalog.to_char(pg_catalog.abs(value), '9.99EEEE'))
            WHEN pg_catalog.round(value, 2) < 0
            THEN '-$' || pg_catalog.to_char(pg_catalog.abs(pg_catalog.round(value, 2)), 'FM999,999,999,999,990.00')
            ELSE '$' || pg_catalog.to_char(pg_catalog.round(value, 2), 'FM999,999,999,999,990.00') END;
COMMENT ON FUNCTION aispend._report_money(numeric) IS
    'Internal (report): US dollars to the cent, $1,234.56; $1e15 and more in scientific notation ($1.00e+400); NULL is —.';

CREATE FUNCTION aispend._report_rate(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—'
            ELSE '$' || pg_catalog.to_char(pg_catalog.round(value, 4), 'FM999,999,999,990.0000') END;
COMMENT ON FUNCTION aispend._report_rate(numeric) IS 'Internal (report): Cost/1M with four decimals, $2.6095; NULL is —.';

CREATE FUNCTION aispend._report_int(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—' ELSE pg_catalog.to_char(value, 'FM999,999,999,999,999,990') END;
COMMENT ON FUNCTION aispend._report_int(numeric) IS 'Internal (report): a count with thousands separators; NULL (not reported) is —.';

CREATE FUNCTION aispend._report_pct(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—' ELSE pg_catalog.to_char(pg_catalog.round(value, 2), 'FM999,990.00') || '%' END;
COMMENT ON FUNCTION aispend._report_pct(numeric) IS 'Internal (report): a percentage with two decimals, 12.34%; NULL is —.';

CREATE FUNCTION aispend._report_clip(value text, max_chars integer)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.length(coalesce(value, '')) <= max_chars THEN coalesce(value, '')
            ELSE pg_catalog.left(value, max_chars - 1) || '…' END;
COMMENT ON FUNCTION aispend._report_clip(text, integer) IS 'Internal (report): shortens a chart label (before escaping).';

CREATE FUNCTION aispend._report_color(i integer)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7',
              '#9c755f', '#86bcb6'])[1 + (i - 1) % 10];
COMMENT ON FUNCTION aispend._report_color(integer) IS 'Internal (report): the i-th chart colour (Other slices are grey).';

-- The efficiency star as an inline SVG (renders without an emoji font); its accessible name is the ⭐ itself.
CREATE FUNCTION aispend._report_star()
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '<svg class="star" width="14" height="14" viewBox="0 0 24 24" role="img" aria-label="⭐">'
       || '<title>⭐ most cost-efficient</title><path fill="#f5b301" stroke="#b8860b" stroke-width="1" '
       || 'd="M12 1.8l3.1 6.6 7.2.9-5.3 5 1.4 7.1L12 17.9l-6.4 3.5 1.4-7.1-5.3-5 7.2-.9z"/></svg>';
COMMENT ON FUNCTION aispend._report_star() IS 'Internal (report): the ⭐ efficiency star (inline SVG).';

-- A summary card. check names the tab function column the figure comes from; raw is its exact value.
CREATE FUNCTION aispend._report_card(check_name text, title text, shown text, raw text, note text DEFAULT NULL)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '<div class="card" data-check="' || aispend.html_escape(check_name) || '" data-value="'
       || aispend.html_escape(raw) || '"><div class="card-title">' || aispend.html_escape(title)
       || '</div><div class="card-value">' || aispend.html_escape(shown) || '</div>'
       || CASE WHEN note IS NULL THEN '' ELSE '<div class="card-note">' || note || '</div>' END || '</div>';
COMMENT ON FUNCTION aispend._report_card(text, text, text, text, text) IS
    'Internal (report): a summary card (title, figure, optional note given as HTML).';

-- The trend arrow as the tabs show it: red for an increase, green for a decrease.
CREATE FUNCTION aispend._report_trend(indicator text, label text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '<span class="trend ' || CASE WHEN indicator IN ('up', 'down', 'flat', 'new', 'incomplete') THEN indicator ELSE 'flat' END
       || '">' || aispend.html_escape(label) || '</span>';
COMMENT ON FUNCTION aispend._report_trend(text, text) IS
    'Internal (report): a trend label (aispend.trend) as a coloured span: up red, down green, flat grey, new blue, '
    'incomplete grey italic.';

-- A pie chart with its legend. Slices of zero or negative cost are not drawn (they stay in the legend).
CREATE FUNCTION aispend._report_pie(title text, check_name text, labels text[], costs numeric[], pcts numeric[])
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(array_length(labels, 1), 0);
    total numeric := 0;
    angle double precision := 0;
    a2 double precision;
    frac double precision;
    cx constant integer := 110;
    cy constant integer := 110;
    r constant integer := 100;
    h integer;
    color text;
    slices text := '';
    legend text := '';
    i integer;
BEGIN
    FOR i IN 1 .. n LOOP
        IF costs[i] > 0 THEN
            total := total + costs[i];
        END IF;
    END LOOP;
    h := GREATEST(230, 30 + 22 * n);
    FOR i IN 1 .. n LOOP
        color := CASE WHEN labels[i] LIKE 'Other%' THEN '#bab0ac' ELSE aispend._report_color(i) END;
        IF total > 0 AND costs[i] > 0 THEN
            -- rounded first: a share too small for a double (one slice beside an absurd one) is 0, not an error
            frac := pg_catalog.round(costs[i] / total, 12)::double precision;
            IF frac > 0.99999 THEN
                slices := slices || format('<circle cx="%s" cy="%s" r="%s" fill="%s"><title>%s</title></circle>',
                                           cx, cy, r, color, aispend.html_escape(labels[i]));
            ELSE
                a2 := angle + 2 * pi() * frac;
                slices := slices || format(
                    '<path d="M %s %s L %s %s A %s %s 0 %s 1 %s %s Z" fill="%s" stroke="#fff" stroke-width="1"><title>%s</title></path>',
                    cx, cy, round((cx + r * sin(angle))::numeric, 2), round((cy - r * cos(angle))::numeric, 2), r, r,
                    CASE WHEN frac > 0.5 THEN 1 ELSE 0 END,
                    round((cx + r * sin(a2))::numeric, 2), round((cy - r * cos(a2))::numeric, 2), color,
                    aispend.html_escape(labels[i]));
                angle := a2;
            END IF;
        END IF;
        legend := legend || format(
            '<g class="legend-item" data-label="%s" data-value="%s" data-pct="%s">'
            '<rect x="240" y="%s" width="12" height="12" fill="%s"/>'
            '<text x="258" y="%s">%s</text><text x="530" y="%s" class="num">%s</text>'
            '<text x="596" y="%s" class="num">%s</text></g>',
            aispend.html_escape(labels[i]), costs[i], coalesce(pcts[i]::text, ''),
            14 + 22 * (i - 1), color, 24 + 22 * (i - 1), aispend.html_escape(aispend._report_clip(labels[i], 30)),
            24 + 22 * (i - 1), aispend._report_money(costs[i]), 24 + 22 * (i - 1), aispend._report_pct(pcts[i]));
    END LOOP;
    IF n = 0 OR total = 0 THEN
        slices := format('<circle cx="%s" cy="%s" r="%s" fill="#eee"/><text x="%s" y="%s" text-anchor="middle">'
                         'no cost</text>', cx, cy, r, cx, cy);
    END IF;
    RETURN format('<figure class="chart" data-check="%s"><figcaption>%s</figcaption>'
                  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="%s" viewBox="0 0 600 %s" role="img">'
                  '<title>%s</title>%s%s</svg></figure>',
                  aispend.html_escape(check_name), aispend.html_escape(title), h, h, aispend.html_escape(title),
                  slices, legend);
END
$$;
COMMENT ON FUNCTION aispend._report_pie(text, text, text[], numeric[], numeric[]) IS
    'Internal (report): an inline SVG pie chart with a legend (label, cost, % of total as given).';

-- Current vs previous period: one pair of horizontal bars per label (current dark, previous light).
CREATE FUNCTION aispend._report_bars(title text, check_name text, labels text[], current_costs numeric[],
                                     previous_costs numeric[])
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(array_length(labels, 1), 0);
    top numeric := 0;
    x0 constant integer := 190;
    w constant integer := 300;
    h integer;
    y integer;
    bars text := '';
    i integer;
BEGIN
    FOR i IN 1 .. n LOOP
        top := GREATEST(top, coalesce(current_costs[i], 0), coalesce(previous_costs[i], 0));
    END LOOP;
    h := 40 + 36 * GREATEST(n, 1);
    FOR i IN 1 .. n LOOP
        y := 30 + 36 * (i - 1);
        bars := bars || format(
            '<g class="bar-item" data-label="%s" data-current="%s" data-previous="%s">'
            '<text x="%s" y="%s" text-anchor="end">%s</text>'
            '<rect x="%s" y="%s" width="%s" height="13" fill="#4e79a7"><title>current %s</title></rect>'
            '<rect x="%s" y="%s" width="%s" height="13" fill="#a0cbe8"><title>previous %s</title></rect>'
            '<text x="%s" y="%s" class="small">%s</text><text x="%s" y="%s" class="small muted">%s</text></g>',
            aispend.html_escape(labels[i]), current_costs[i], previous_costs[i],
            x0 - 6, y + 17, aispend.html_escape(aispend._report_clip(labels[i], 25)),
            x0, y, CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(current_costs[i], 0), 0) / top, 1) ELSE 0 END,
            aispend._report_money(current_costs[i]),
            x0, y + 15, CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(previous_costs[i], 0), 0) / top, 1) ELSE 0 END,
            aispend._report_money(previous_costs[i]),
            x0 + 4 + CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(current_costs[i], 0), 0) / top) ELSE 0 END,
            y + 11, aispend._report_money(current_costs[i]),
            x0 + 4 + CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(previous_costs[i], 0), 0) / top) ELSE 0 END,
            y + 26, aispend._report_money(previous_costs[i]));
    END LOOP;
    IF n = 0 THEN
        bars := '<text x="20" y="40">no data in either period</text>';
    END IF;
    RETURN format('<figure class="chart" data-check="%s"><figcaption>%s</figcaption>'
                  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="%s" viewBox="0 0 600 %s" role="img">'
                  '<title>%s</title>'
                  '<rect x="%s" y="6" width="12" height="12" fill="#4e79a7"/><text x="%s" y="16" class="small">current period</text>'
                  '<rect x="%s" y="6" width="12" height="12" fill="#a0cbe8"/><text x="%s" y="16" class="small">previous period</text>'
                  '%s</svg></figure>',
                  aispend.html_escape(check_name), aispend.html_escape(title), h, h, aispend.html_escape(title),
                  x0, x0 + 16, x0 + 130, x0 + 146, bars);
END
$$;
COMMENT ON FUNCTION aispend._report_bars(text, text, text[], numeric[], numeric[]) IS
    'Internal (report): an inline SVG bar chart, current vs previous period per label.';

-- A budget as a horizontal bar: spent (blue), the forecast band (grey) and the forecast (dark tick) on a scale
-- that holds the amount (the black line) and the band.
CREATE FUNCTION aispend._report_budget_bar(amount numeric, spent numeric, forecast numeric, low numeric, high numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH s AS (SELECT 200.0 / GREATEST(amount, high, spent, 0.01) AS k)
    SELECT format('<svg class="budget" data-spent="%s" data-forecast="%s" data-amount="%s" width="210" height="16" '
                  'viewBox="0 0 210 16" role="img"><title>spent %s, forecast %s (%s to %s), amount %s</title>'
                  '<rect x="0" y="4" width="%s" height="8" fill="#ddd"/>'
                  '<rect x="%s" y="3" width="%s" height="10" fill="#bbb"/>'
                  '<rect x="0" y="4" width="%s" height="8" fill="#4e79a7"/>'
                  '<rect x="%s" y="1" width="2" height="14" fill="#555"/>'
                  '<rect x="%s" y="0" width="1.5" height="16" fill="#000"/></svg>',
                  spent, forecast, amount, aispend._report_money(spent), aispend._report_money(forecast),
                  aispend._report_money(low), aispend._report_money(high), aispend._report_money(amount),
                  round(200.0, 1), round(s.k * low, 1), round(GREATEST(s.k * (high - low), 1), 1),
                  round(s.k * spent, 1), round(s.k * forecast, 1), round(s.k * amount, 1))
    FROM s;
END;
COMMENT ON FUNCTION aispend._report_budget_bar(numeric, numeric, numeric, numeric, numeric) IS
    'Internal (report): an inline SVG bar of a budget: spent, the forecast band and tick, the amount.';

-- Daily cost as vertical bars, one per UTC day of the period (aispend.daily_series).
CREATE FUNCTION aispend._report_daily(title text, check_name text, days date[], costs numeric[], marked date[])
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(array_length(days, 1), 0);
    top numeric := 0;
    chart_h constant integer := 160;
    step numeric;
    bar numeric;
    bars text := '';
    i integer;
BEGIN
    FOR i IN 1 .. n LOOP
        top := GREATEST(top, coalesce(costs[i], 0));
    END LOOP;
    step := 560.0 / GREATEST(n, 1);
    FOR i IN 1 .. n LOOP
        bar := CASE WHEN top > 0 THEN round(chart_h * GREATEST(coalesce(costs[i], 0), 0) / top, 1) ELSE 0 END;
        bars := bars || format(
            '<g class="day-item" data-label="%s" data-value="%s"><rect x="%s" y="%s" width="%s" height="%s" '
            'fill="#4e79a7"><title>%s: %s</title></rect></g>',
            days[i], costs[i], round(30 + step * (i - 1), 1), 20 + chart_h - bar, round(GREATEST(step - 1, 1), 1),
            bar, days[i], aispend._report_money(costs[i]));
        -- a spike that day (aispend.anomalies): a red marker above the bar
        IF days[i] = ANY (marked) THEN
            bars := bars || format('<circle class="anomaly" data-label="%s" cx="%s" cy="%s" r="3" fill="#c62828">'
                                   '<title>%s: spike (aispend.anomalies)</title></circle>',
                                   days[i], round(30 + step * (i - 0.5), 1), 20 + chart_h - bar - 5, days[i]);
        END IF;
    END LOOP;
    RETURN format('<figure class="chart" data-check="%s"><figcaption>%s</figcaption>'
                  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="220" viewBox="0 0 600 220" role="img">'
                  '<title>%s</title><text x="30" y="14" class="small muted">max %s</text>%s'
                  '<text x="30" y="210" class="small">%s</text><text x="590" y="210" class="small num">%s</text>'
                  '</svg></figure>',
                  aispend.html_escape(check_name), aispend.html_escape(title), aispend.html_escape(title),
                  aispend._report_money(top), bars, coalesce(days[1]::text, ''), coalesce(days[n]::text, ''));
END
$$;
COMMENT ON FUNCTION aispend._report_daily(text, text, date[], numeric[], date[]) IS
    'Internal (report): an inline SVG bar chart of the cost per UTC day, a red marker on the days in marked.';

CREATE FUNCTION aispend.report_html(period daterange DEFAULT aispend.period('last_30_days'),
                                    provider text DEFAULT 'all', compare_with daterange DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    max_rows constant integer := 50;   -- table rows shown per tab; the rest is counted below the table
    prev daterange;
    ws record;
    ak record;
    md record;
    html text;
    part text;
    n integer;
    labels text[];
    a numeric[];
    b numeric[];
    c numeric[];
    prov text := lower(coalesce(nullif(btrim(provider), ''), 'all'));
    call_args text;
    n_ws integer;
    n_active integer;
    n_renamed integer;
    est_pct numeric;
    days date[];
BEGIN
    prev := aispend._check_period(coalesce(compare_with, aispend.previous_period(aispend._check_period(period))));
    PERFORM aispend._provider_matches('openai', prov);   -- raises for an unknown provider filter
    call_args := format('%L::daterange, %L', period, prov)
                 || CASE WHEN compare_with IS NOT NULL THEN format(', compare_with => %L::daterange', prev) ELSE '' END;

    SELECT * INTO ws FROM aispend.workspaces_summary(period, prov, compare_with => prev);
    SELECT * INTO ak FROM aispend.api_keys_summary(period, prov, compare_with => prev);
    SELECT * INTO md FROM aispend.models_summary(period, prov, compare_with => prev);
    SELECT b.pct_of_cost INTO est_pct FROM aispend.cost_basis_split(period, prov) b WHERE b.cost_basis = 'estimated';
    est_pct := coalesce(est_pct, 0);

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<title>aispend report ' || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</title><style>'
        || 'body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;background:#f6f7f9}'
        || 'h1{margin:0 0 4px;font-size:26px}h2{margin:0 0 12px;font-size:20px;border-bottom:2px solid #4e79a7;padding-bottom:4px}'
        || 'header p{margin:2px 0;color:#555}section{background:#fff;border:1px solid #dde;border-radius:8px;padding:16px 20px;margin:18px 0}'
        || '.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:14px}'
        || '.card{border:1px solid #dde;border-radius:6px;padding:10px 14px;min-width:150px;background:#fbfcfe}'
        || '.card-title{font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.04em}'
        || '.card-value{font-size:22px;font-weight:600;margin-top:4px}.card-note{font-size:12px;margin-top:4px;color:#555}'
        || '.charts{display:flex;flex-wrap:wrap;gap:16px}figure.chart{margin:0 0 12px}figcaption{font-weight:600;margin-bottom:4px}'
        || 'svg text{font-size:12px;fill:#222}svg text.num{text-anchor:end}svg text.small{font-size:11px}svg text.muted{fill:#777}'
        || 'table{border-collapse:collapse;width:100%;font-size:13px;margin-top:6px}'
        || 'th,td{border-bottom:1px solid #e4e6eb;padding:4px 8px;text-align:left}th{background:#f0f2f6}'
        || 'td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}'
        || '.trend{font-weight:600;white-space:nowrap}.trend.up{color:#c62828}.trend.down{color:#2e7d32}'
        || '.trend.flat{color:#777}.trend.new{color:#1565c0}.trend.incomplete{color:#777;font-style:italic;font-weight:400}'
        || '.star{vertical-align:-2px}.muted{color:#777}'
        || '.note{font-size:12px;color:#666}footer{font-size:12px;color:#666;margin-top:20px}code{font-size:12px}'
        || '</style></head><body>'
        || '<header><h1>aispend · Provider Dashboard</h1>'
        || '<p data-check="period" data-value="' || aispend.html_escape(period::text) || '">Period: <b>'
        || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</b> ('
        || (upper(period) - lower(period)) || ' UTC days), compared with '
        || aispend.html_escape(aispend.period_first_day(prev)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(prev)::text) || '</p>'
        || '<p>Provider: <b>' || aispend.html_escape(prov) || '</b> · generated '
        || aispend.html_escape(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC') || '</p></header>';

    -- ---- Workspaces
    html := html || '<section id="workspaces"><h2>Workspaces</h2><div class="cards">'
        || aispend._report_card('workspaces_summary.total_cost', 'Total Cost', aispend._report_money(ws.total_cost),
                                ws.total_cost::text,
                                aispend._report_trend(ws.trend, ws.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ws.previous_total_cost)))
        || aispend._report_card('workspaces_summary.active_workspaces', 'Active Workspaces',
                                aispend._report_int(ws.active_workspaces), ws.active_workspaces::text)
        -- a card per provider in view (none for a provider the filter leaves out; other only when it has cost)
        || CASE WHEN prov IN ('all', 'openai')
                THEN aispend._report_card('workspaces_summary.openai_cost', 'OpenAI',
                                          aispend._report_money(ws.openai_cost), ws.openai_cost::text)
                ELSE '' END
        || CASE WHEN prov IN ('all', 'anthropic')
                THEN aispend._report_card('workspaces_summary.anthropic_cost', 'Anthropic',
                                          aispend._report_money(ws.anthropic_cost), ws.anthropic_cost::text)
                ELSE '' END
        || CASE WHEN prov NOT IN ('all', 'openai', 'anthropic') OR prov = 'all' AND ws.other_cost <> 0
                THEN aispend._report_card('workspaces_summary.other_cost', 'Other providers',
                                          aispend._report_money(ws.other_cost), ws.other_cost::text)
                ELSE '' END
        || aispend._report_card('cost_basis.estimated_pct', 'Estimated',
                                aispend._report_pct(est_pct), coalesce(est_pct::text, ''),
                                'of the cost is estimated from list prices (bill not settled yet)')
        || aispend._report_card('workspaces_summary.requests', 'Requests', aispend._report_int(ws.requests),
                                coalesce(ws.requests::text, ''))
        || aispend._report_card('workspaces_summary.tokens', 'Tokens', aispend._report_int(ws.tokens), ws.tokens::text)
        || '</div><div class="charts">';
    SELECT array_agg(t.provider ORDER BY t.cost DESC, t.provider), array_agg(t.cost ORDER BY t.cost DESC, t.provider),
           array_agg(t.pct_of_total ORDER BY t.cost DESC, t.provider)
      INTO labels, a, c
      FROM aispend.workspaces_by_provider(period, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by Provider', 'workspaces_by_provider', labels, a, c);
    SELECT array_agg(t.name ORDER BY t.current_cost DESC, t.name), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.name),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.name)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.workspaces_vs_previous(period, prov, compare_with => prev) v
            ORDER BY v.current_cost DESC, v.name LIMIT 10) t;
    html := html || aispend._report_bars('Current vs Previous Period (top 10 workspaces)', 'workspaces_vs_previous',
                                         labels, a, b);
    SELECT array_agg(d.day ORDER BY d.day), array_agg(d.cost ORDER BY d.day) INTO days, a
      FROM aispend.daily_series(period, prov) d;
    html := html || aispend._report_daily('Cost per Day (red: a spike, aispend.anomalies)', 'daily_series', days, a,
                                          ARRAY(SELECT DISTINCT x.day FROM aispend.anomalies(period, NULL, prov) x))
                 || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.name) || '</td><td>' || aispend.html_escape(t.provider)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.cost DESC, t.name),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.workspaces_table(period, prov, compare_with => prev) x
            ORDER BY x.cost DESC, x.name LIMIT max_rows) t;
    html := html || '<table data-check="workspaces_table"><thead><tr><th>Name</th><th>Provider</th>'
        || '<th class="num">Cost</th><th class="num">% of Total</th><th class="num">Requests</th>'
        || '<th class="num">Tokens</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.workspaces_table(' || aispend.html_escape(call_args) || ') ORDER BY cost DESC, name;</p>'
                ELSE '' END
        || '</section>';

    -- ---- API keys
    html := html || '<section id="api-keys"><h2>API Keys</h2><div class="cards">'
        || aispend._report_card('api_keys_summary.total_cost', 'Total Cost', aispend._report_money(ak.total_cost),
                                ak.total_cost::text,
                                aispend._report_trend(ak.trend, ak.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ak.previous_total_cost)))
        || aispend._report_card('api_keys_summary.active_keys', 'Active API Keys', aispend._report_int(ak.active_keys),
                                ak.active_keys::text)
        || aispend._report_card('api_keys_summary.total_requests', 'Total Requests',
                                aispend._report_int(ak.total_requests), coalesce(ak.total_requests::text, ''))
        || aispend._report_card('api_keys_summary.tokens', 'Tokens', aispend._report_int(ak.tokens), ak.tokens::text)
        || aispend._report_card('api_keys_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(ak.avg_cost_per_1m), coalesce(ak.avg_cost_per_1m::text, ''))
        || '</div><div class="charts">';
    SELECT array_agg(CASE WHEN t.label = 'Other keys' THEN 'Other keys (' || t.keys || ')' ELSE t.label END ORDER BY t.rank),
           array_agg(t.cost ORDER BY t.rank), array_agg(t.pct_of_total ORDER BY t.rank)
      INTO labels, a, c
      FROM aispend.api_keys_top(period, 10, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by API Key (top 10)', 'api_keys_top', labels, a, c);
    SELECT array_agg(t.api_key || ' (' || t.workspace || ')' ORDER BY t.rn), array_agg(t.current_cost ORDER BY t.rn),
           array_agg(t.previous_cost ORDER BY t.rn)
      INTO labels, a, b
      FROM (SELECT v.*, row_number() OVER (ORDER BY v.current_cost DESC, v.api_key, v.account, v.workspace_id,
                                                    v.api_key_id) AS rn
            FROM aispend.api_keys_vs_previous(period, prov, compare_with => prev) v) t
     WHERE t.rn <= 10;
    html := html || aispend._report_bars('API Key Cost Comparison (top 10 keys)', 'api_keys_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.api_key) || '</td><td>' || aispend.html_escape(t.kind)
                      || '</td><td>' || aispend.html_escape(t.workspace)
                      || '</td><td><code>' || aispend.html_escape(t.key_hint) || '</code></td><td>'
                      || aispend.html_escape(t.provider) || '</td><td>' || aispend.html_escape(t.status)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_int(t.tokens) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.rn),
           max(t.total)
      INTO part, n
      -- the tab's own order (WITH ORDINALITY); keys without use are left out, so that 50 rows always reach
      -- the rows that are not keys
      FROM (SELECT x.*, x.ordinality AS rn, count(*) OVER () AS total
            FROM aispend.api_keys_table(period, prov, include_unused => false, compare_with => prev)
                 WITH ORDINALITY AS x) t
     WHERE t.rn <= max_rows;
    html := html || '<table data-check="api_keys_table"><thead><tr><th>API Key</th><th>Kind</th><th>Workspace</th><th>Key Hint</th>'
        || '<th>Provider</th><th>Status</th><th class="num">Cost</th><th class="num">Tokens</th>'
        || '<th class="num">Requests</th><th class="num">Cost/1M</th><th class="num">% of Total</th><th>Trend</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.api_keys_table(' || aispend.html_escape(call_args) || ', include_unused => false);</p>'
                ELSE '' END
        || '</section>';

    -- ---- Models
    html := html || '<section id="models"><h2>Models</h2><div class="cards">'
        || aispend._report_card('models_summary.total_cost', 'Total Cost', aispend._report_money(md.total_cost),
                                md.total_cost::text,
                                aispend._report_trend(md.trend, md.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(md.previous_total_cost)))
        || aispend._report_card('models_summary.model_count', 'Models', aispend._report_int(md.model_count),
                                md.model_count::text)
        || aispend._report_card('models_summary.total_requests', 'Total Requests',
                                aispend._report_int(md.total_requests), coalesce(md.total_requests::text, ''))
        || aispend._report_card('models_summary.tokens', 'Tokens', aispend._report_int(md.tokens), md.tokens::text)
        || aispend._report_card('models_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(md.avg_cost_per_1m), coalesce(md.avg_cost_per_1m::text, ''))
        || aispend._report_card('models_summary.most_efficient_model', 'Most Efficient',
                                coalesce(md.most_efficient_model, '—'), coalesce(md.most_efficient_model, ''),
                                aispend._report_star() || ' lowest cost per 1M tokens (chat models)')
        || '</div><div class="charts">';
    -- The pie shows the nine costliest models; the rest is one grey slice.
    SELECT array_agg(t.label ORDER BY t.grp), array_agg(t.cost ORDER BY t.grp), array_agg(t.pct ORDER BY t.grp)
      INTO labels, a, c
      FROM (SELECT g.grp, CASE WHEN g.grp <= 9 OR count(*) = 1 THEN min(g.model)
                               ELSE 'Other (' || count(*) || ' models)' END AS label,
                   sum(g.cost) AS cost, sum(g.pct_of_total) AS pct
              FROM (SELECT x.model, x.cost, x.pct_of_total,
                           LEAST(row_number() OVER (ORDER BY x.cost DESC, x.model), 10) AS grp
                      FROM aispend.models_by_cost(period, prov, compare_with => prev) x) g
             GROUP BY g.grp) t;
    html := html || aispend._report_pie('Cost Distribution by Model', 'models_by_cost', labels, a, c);
    SELECT array_agg(t.model ORDER BY t.current_cost DESC, t.model), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.model),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.model)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.models_vs_previous(period, prov, compare_with => prev) v ORDER BY v.current_cost DESC, v.model LIMIT 10) t;
    html := html || aispend._report_bars('Model Cost Comparison (top 10 models)', 'models_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.model)
                      || CASE WHEN t.most_efficient THEN ' ' || aispend._report_star() ELSE '' END
                      || '</td><td>' || aispend.html_escape(t.class)
                      || '</td><td>' || aispend.html_escape(t.provider) || '</td><td class="num">'
                      || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">' || aispend._report_money(t.cost)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td class="num">'
                      || aispend._report_int(t.requests) || '</td><td class="num">' || aispend._report_pct(t.pct_of_total)
                      || '</td><td>' || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', ''
                      ORDER BY t.cost_per_1m NULLS LAST, t.model),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.models_table(period, prov, compare_with => prev) x
            ORDER BY x.cost_per_1m NULLS LAST, x.model LIMIT max_rows) t;
    html := html || '<table data-check="models_table"><thead><tr><th>Model</th><th>Class</th><th>Provider</th>'
        || '<th class="num">Cost/1M</th><th class="num">Cost</th><th class="num">Tokens</th><th class="num">Requests</th>'
        || '<th class="num">% of Total</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_star() || ' marks the most cost-efficient model of each class: the lowest cost per '
        || 'million tokens among the class''s models with cost and tokens in the period.</p>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.models_table(' || aispend.html_escape(call_args) || ') ORDER BY cost_per_1m NULLS LAST, model;</p>'
                ELSE '' END
        || '</section>';

    -- ---- Savings: what the same tokens would have cost on cheaper models of the same class, and caching
    SELECT string_agg('<tr><td>' || aispend.html_escape(o.api_key) || '</td><td>' || aispend.html_escape(o.workspace)
                      || '</td><td>' || aispend.html_escape(o.model) || '</td><td>' || aispend.html_escape(o.alternative)
                      || '</td><td class="num">' || aispend._report_money(o.list_cost) || '</td><td class="num">'
                      || aispend._report_money(o.repriced_cost) || '</td><td class="num">'
                      || aispend._report_money(o.saving) || '</td><td class="num">' || aispend._report_pct(o.saving_pct)
                      || '</td></tr>', '' ORDER BY o.ordinality)
      INTO part
      FROM aispend.savings_opportunities(period, prov) WITH ORDINALITY AS o
     WHERE o.ordinality <= 10;
    html := html || '<section id="savings"><h2>Savings Opportunities</h2>'
        || '<p class="note">What each key''s own token mix would have cost at the list prices of a cheaper model of the '
        || 'same class that the organisation uses: a re-pricing of token counts, not a judgement of quality.</p>'
        || '<table data-check="savings_opportunities"><thead><tr><th>API Key</th><th>Workspace</th><th>Model</th>'
        || '<th>Alternative</th><th class="num">List cost</th><th class="num">Re-priced</th><th class="num">Saving</th>'
        || '<th class="num">Saving %</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(c.api_key) || '</td><td>' || aispend.html_escape(c.model)
                      || '</td><td class="num">' || aispend._report_int(c.input_tokens) || '</td><td class="num">'
                      || aispend._report_pct(c.cached_pct) || '</td><td class="num">'
                      || aispend._report_money(c.caching_saved) || '</td><td class="num">'
                      || aispend._report_money(c.saving_at_hit_rate) || '</td><td>'
                      || CASE WHEN c.uncached_heavy THEN 'no caching' ELSE '' END || '</td></tr>', ''
                      ORDER BY c.ordinality)
      INTO part
      FROM aispend.cache_efficiency(period, prov) WITH ORDINALITY AS c
     WHERE c.ordinality <= 10;
    html := html || '<table data-check="cache_efficiency"><thead><tr><th>API Key</th><th>Model</th>'
        || '<th class="num">Input tokens</th><th class="num">Cached</th><th class="num">Caching saved</th>'
        || '<th class="num">At a 50% hit rate</th><th>Flag</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table><p class="note">aispend.savings_opportunities and aispend.cache_efficiency have the rest '
        || '(docs/savings.md).</p></section>';

    -- ---- Budgets (their current period, not the report's) and the open alerts
    SELECT string_agg('<tr><td>' || aispend.html_escape(b.name) || '</td><td>' || aispend.html_escape(b.period::text)
                      || '</td><td class="num">' || aispend._report_money(b.amount_usd) || '</td><td class="num">'
                      || aispend._report_money(b.spent) || '</td><td class="num">' || aispend._report_pct(b.pct_used)
                      || '</td><td class="num">' || aispend._report_money(b.forecast) || '</td><td class="num">'
                      || aispend._report_money(b.forecast_low) || ' – ' || aispend._report_money(b.forecast_high)
                      || '</td><td>' || aispend._report_budget_bar(b.amount_usd, b.spent, b.forecast, b.forecast_low,
                                                                    b.forecast_high) || '</td></tr>', '' ORDER BY b.ordinality)
      INTO part
      FROM aispend.budgets_status() WITH ORDINALITY AS b;
    html := html || '<section id="budgets"><h2>Budgets and Alerts</h2>'
        || '<table data-check="budgets_status"><thead><tr><th>Budget</th><th>Period</th><th class="num">Amount</th>'
        || '<th class="num">Spent</th><th class="num">Used</th><th class="num">Forecast</th><th class="num">Band</th>'
        || '<th>Spent (blue), forecast band (grey), amount (line)</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(x.state) || '</td><td>' || aispend.html_escape(x.rule)
                      || '</td><td>' || aispend.html_escape(x.message) || '</td><td>'
                      || aispend.html_escape(to_char(x.first_fired AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')) || ' UTC'
                      || '</td></tr>', '' ORDER BY x.first_fired, x.id)
      INTO part
      FROM aispend.alerts x WHERE x.state <> 'resolved';
    html := html || '<table data-check="alerts"><thead><tr><th>State</th><th>Rule</th><th>Alert</th><th>Since</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table><p class="note">Budgets in their current '
        || 'period (aispend.budgets_status, docs/budgets.md); alerts firing or acknowledged (aispend.alerts, '
        || 'docs/alerts.md).</p></section>';

    -- ---- Workspace management (the names; not period-dependent)
    SELECT string_agg('<tr><td>' || aispend.html_escape(m.workspace_name)
                      || CASE WHEN m.display_name IS NOT NULL THEN ' <span class="muted">(renamed)</span>' ELSE '' END
                      || '</td><td>' || aispend.html_escape(m.provider) || '</td><td><code>'
                      || aispend.html_escape(m.workspace_id) || '</code></td><td>' || aispend.html_escape(m.provider_name)
                      || '</td><td>' || aispend.html_escape(m.status) || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.created, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.first_seen, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.last_seen, 'YYYY-MM-DD')), '—')
                      || '</td><td class="num">' || m.name_changes || '</td></tr>', ''
                      ORDER BY m.workspace_name, m.account, m.workspace_id),
           count(*), count(*) FILTER (WHERE m.status = 'active'), count(*) FILTER (WHERE m.display_name IS NOT NULL)
      INTO part, n_ws, n_active, n_renamed
      FROM aispend.workspace_management_table(NULL, prov) m;
    html := html || '<section id="workspace-management"><h2>Workspace Management</h2><div class="cards">'
        || aispend._report_card('workspace_management.count', 'Workspaces', aispend._report_int(n_ws), n_ws::text)
        || aispend._report_card('workspace_management.active', 'Active', aispend._report_int(n_active), n_active::text)
        || aispend._report_card('workspace_management.renamed', 'Custom Names', aispend._report_int(n_renamed), n_renamed::text)
        || '</div><table data-check="workspace_management"><thead><tr><th>Workspace Name</th><th>Provider</th>'
        || '<th>Workspace ID</th><th>Provider Name</th><th>Status</th><th>Created</th><th>First Seen</th>'
        || '<th>Last Seen</th><th class="num">Name Changes</th></tr></thead>'
        || '<tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">Created: the provider''s creation date; First Seen: the earlier of Created and the first day '
        || 'with usage or cost; Last Seen: the last day with usage or cost. Rename a workspace: <code>SELECT '
        || 'aispend.rename_workspace(account, workspace_id, ''new name'');</code> (docs/workspace-management.md).</p></section>';

    -- ---- Data freshness: how far each account in view is synced, and what is still an estimate
    SELECT string_agg('<tr><td>' || aispend.html_escape(f.account) || '</td><td>' || aispend.html_escape(f.provider)
                      || '</td><td>' || coalesce(to_char(f.usage_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.costs_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.settled_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(aispend.html_escape(to_char(f.last_sync AT TIME ZONE 'UTC',
                                                                              'YYYY-MM-DD HH24:MI') || ' UTC'), '—')
                      || '</td><td>' || aispend.html_escape(coalesce(f.status, '—'))
                      || '</td><td>' || aispend.html_escape(coalesce(f.refresh_state, '—')) || '</td></tr>', ''
                      ORDER BY f.account)
      INTO part
      FROM aispend.data_freshness f
     WHERE aispend._provider_matches(f.provider, prov);
    html := html || '<section id="freshness"><h2>Data Freshness</h2>'
        || '<table data-check="data_freshness"><thead><tr><th>Account</th><th>Provider</th><th>Usage complete through</th>'
        || '<th>Costs complete through</th><th>Costs settled through</th><th>Last sync</th><th>Last status</th>'
        || '<th>Refresh now</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_pct(est_pct) || ' of the cost in this period is estimated from list prices '
        || '(days whose bill is not settled yet: docs/costs.md). A trend marked "history from" compares with a period '
        || 'older than the synced history.</p></section>';

    html := html || '<footer>Figures from aispend.workspaces_summary / _table / _by_provider / _vs_previous, '
        || 'aispend.api_keys_summary / _table / _top / _vs_previous, aispend.models_summary / _table / _by_cost / '
        || '_vs_previous, aispend.anomalies, aispend.budgets_status, aispend.alerts, '
        || 'aispend.workspace_management_table, aispend.data_freshness and aispend.cost_basis_split '
        || 'for the period above; costs in US dollars, days in UTC. '
        || 'Made with <code>psql -Atc "SELECT aispend.report_html(' || aispend.html_escape(call_args)
        || ')" &gt; report.html</code>.</footer></body></html>' || E'\n';
    RETURN html;
END
$$;
COMMENT ON FUNCTION aispend.report_html(daterange, text, daterange) IS
    'The chart report: one self-contained HTML page (inline SVG and CSS, no JavaScript, no external assets) with '
    'the summary cards, pie charts, current-vs-previous bar charts and tables (trend arrows, efficiency star) of '
    'the Workspaces, API Keys, Models and Workspace Management tabs for a period (default last 30 days, UTC) and a '
    'provider filter (all, openai, anthropic, other), compared with compare_with (default '
    'aispend.previous_period(period); by name: aispend.report_html(''month_to_date'')). Export: psql -Atc "SELECT aispend.report_html()" > report.html';
