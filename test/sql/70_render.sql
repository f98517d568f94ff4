-- SVG scatter plots straight from SQL.
CREATE TABLE dots AS
SELECT i AS id, sin(i)::real AS x, cos(i * 0.7)::real AS y, (i % 17)::real / 4 AS loss,
       CASE i % 3 WHEN 0 THEN 'cat' WHEN 1 THEN 'dog' ELSE 'bird' END AS label
  FROM generate_series(1, 500) i;
-- a sample text with markup and an ampersand comes out escaped
UPDATE dots SET label = '<script>alert(1)</script> & "quotes"' WHERE id = 7;
CREATE TABLE svg AS
SELECT tl_svg_scatter(x, y, loss, label, format('sample %s: %s, loss %s', id, label, loss), 'Dots & <lines>' ORDER BY id) AS doc
  FROM dots;
-- well-formed XML (PostgreSQL parses it), one circle per dot plus the legend's
SELECT xmlparse(document doc) IS NOT NULL AS well_formed,
       (SELECT count(*) FROM regexp_matches(doc, '<circle ', 'g')) - 4 AS dots,
       (SELECT count(*) FROM regexp_matches(doc, '<title>', 'g')) AS tooltips,
       position('<script>' IN doc) = 0 AS no_raw_script,
       position('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;' IN doc) > 0 AS escaped,
       position('Dots &amp; &lt;lines&gt;' IN doc) > 0 AS title_escaped
  FROM svg;
-- deterministic: the same rows give the same bytes
SELECT md5(doc) = (SELECT md5(tl_svg_scatter(x, y, loss, label, format('sample %s: %s, loss %s', id, label, loss),
                                             'Dots & <lines>' ORDER BY id)) FROM dots) AS deterministic
  FROM svg;
-- high-loss dots are drawn last (on top): radii never shrink along the document
SELECT bool_and(r >= prev) AS largest_on_top
  FROM (SELECT r, lag(r, 1, 0::float8) OVER (ORDER BY ord) AS prev
          FROM svg, regexp_matches(doc, '<circle cx="[^"]*" cy="[^"]*" r="([^"]*)" class="c\d+"><title>', 'g')
               WITH ORDINALITY m(r_txt, ord),
               LATERAL (SELECT r_txt[1]::float8 AS r) rr) s;
-- numbers as colours get a colour bar instead of a legend
SELECT position('linearGradient' IN tl_svg_scatter(x, y, loss, loss::text, NULL ORDER BY id)) > 0 AS colour_bar
  FROM dots;
-- rows without coordinates are skipped; no rows, no picture
SELECT tl_svg_scatter(NULL, NULL, NULL, NULL, NULL) IS NOT NULL AS empty_plot_drawn,
       (SELECT tl_svg_scatter(x, y, loss, label, NULL) FROM dots WHERE false) IS NULL AS no_rows_null;
-- 25,000 dots stay a reasonable size (about 150 bytes a dot)
SELECT length(tl_svg_scatter(sin(i)::real, cos(i)::real, (i % 9)::real, (i % 10)::text,
                             format('sample %s', i) ORDER BY i)) < 25000 * 160 AS compact
  FROM generate_series(1, 25000) i;

-- the run report: a small run of a token model (tl_html_report is also
-- opened in headless Chromium by test/browser/report_test.sh)
SELECT tl_evaluate('emb', $$SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20,
                                           (i * 13) % 20, (i * 17) % 20, (i * 19) % 20], i % 2
                              FROM generate_series(1, 300) i$$,
                   'toy tokens', NULL, NULL, 'binary_crossentropy', '{no,yes}') AS report_run \gset
CREATE TABLE report AS SELECT tl_html_report(:report_run, NULL, 'toy', 5) AS page;
SELECT length(page) > 20000 AS has_content,
       -- the data sits in one JSON script element and cannot close it
       (SELECT count(*) FROM regexp_matches(page, '</script>', 'g')) AS script_ends,
       position('"kind": "tokens"' IN page) > 0 AS has_heat_maps,
       (length(page) - length(replace(page, '"sample_id"', ''))) / length('"sample_id"') >= 5 AS lists_issues
  FROM report;
SELECT expect_error($$SELECT tl_html_report(987654)$$);
SELECT expect_error($$SELECT tl_html_report($$ || :report_run || $$, NULL, NULL, -1)$$);
