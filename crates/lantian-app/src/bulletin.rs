//! The monthly bulletin (考评通报) in the formats people use: CSV (UTF-8 with a BOM, so Excel shows
//! Chinese), XLSX (a real workbook with formatted tables), and a printable HTML page with inline SVG
//! charts (score by unit, trend over the campaign). JSON is the `Bulletin` itself.

use lantian_domain::assessment::Bulletin;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

const HEADERS: [&str; 16] = [
    "组别 group",
    "名次 rank",
    "单位 unit",
    "名称 name",
    "得分 score",
    "环比 change",
    "检查合规率 compliance",
    "覆盖率 coverage",
    "结案率 closed",
    "按期结案率 on time",
    "返工率 rework",
    "延期率 extension",
    "证据质量 evidence",
    "检查数 inspections",
    "整改得分 rectification",
    "备注 note",
];

/// CSV: a BOM, a header row, then every unit of a peer group (a unit without data has no score
/// and the note 无考核数据).
pub fn to_csv(b: &Bulletin) -> Result<Vec<u8>, csv::Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(HEADERS)?;
        for g in &b.groups {
            for r in &g.rows {
                w.write_record([
                    g.group.clone(),
                    r.rank.map(|x| x.to_string()).unwrap_or_default(),
                    r.unit.clone(),
                    r.name.clone(),
                    if r.no_data {
                        String::new()
                    } else {
                        format!("{:.2}", r.score)
                    },
                    r.change.map(|c| format!("{c:+.2}")).unwrap_or_default(),
                    format!("{:.4}", r.compliance),
                    format!("{:.4}", r.coverage),
                    format!("{:.4}", r.closed),
                    format!("{:.4}", r.on_time),
                    format!("{:.4}", r.rework),
                    format!("{:.4}", r.extension),
                    format!("{:.4}", r.evidence_quality),
                    r.inspections.to_string(),
                    format!("{:.4}", r.rectification),
                    if r.no_data { "无考核数据" } else { "" }.to_owned(),
                ])?;
            }
        }
        w.flush()?;
    }
    Ok(out)
}

/// XLSX: sheet 排名 (ranking, per group), 超期 (overdue orders), 返工 (reworks), 说明 (about).
pub fn to_xlsx(b: &Bulletin) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let head = Format::new()
        .set_bold()
        .set_background_color(0xDDEBF7)
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center);
    let cell = Format::new().set_border(FormatBorder::Thin);
    let score = cell.clone().set_num_format("0.00");
    let change = cell.clone().set_num_format("+0.00;-0.00;0.00");
    let pct = cell.clone().set_num_format("0.00%");
    let title = Format::new().set_bold().set_font_size(14);
    {
        let ws = wb.add_worksheet();
        ws.set_name("排名")?;
        ws.write_string_with_format(
            0,
            0,
            format!(
                "{} {} {}考评通报（第 {} 版）",
                b.header.number,
                if b.campaign_name.is_empty() {
                    &b.campaign
                } else {
                    &b.campaign_name
                },
                month_zh(&b.month),
                b.revision
            ),
            &title,
        )?;
        for (c, h) in HEADERS.iter().enumerate() {
            ws.write_string_with_format(2, c as u16, *h, &head)?;
            ws.set_column_width(c as u16, if c == 3 { 24 } else { 14 })?;
        }
        let mut row = 3u32;
        for g in &b.groups {
            for r in &g.rows {
                let heading = if g.name_zh.is_empty() {
                    &g.group
                } else {
                    &g.name_zh
                };
                ws.write_string_with_format(row, 0, heading, &cell)?;
                match r.rank {
                    Some(k) => ws.write_number_with_format(row, 1, k, &cell)?,
                    None => ws.write_string_with_format(row, 1, "", &cell)?,
                };
                ws.write_string_with_format(row, 2, &r.unit, &cell)?;
                ws.write_string_with_format(row, 3, &r.name, &cell)?;
                if r.no_data {
                    ws.write_string_with_format(row, 4, "", &cell)?;
                } else {
                    ws.write_number_with_format(row, 4, r.score, &score)?;
                }
                match r.change {
                    Some(x) => ws.write_number_with_format(row, 5, x, &change)?,
                    None => ws.write_string_with_format(row, 5, "", &cell)?,
                };
                for (i, v) in [
                    r.compliance,
                    r.coverage,
                    r.closed,
                    r.on_time,
                    r.rework,
                    r.extension,
                    r.evidence_quality,
                ]
                .into_iter()
                .enumerate()
                {
                    ws.write_number_with_format(row, 6 + i as u16, v, &pct)?;
                }
                ws.write_number_with_format(row, 13, r.inspections as f64, &cell)?;
                ws.write_number_with_format(row, 14, r.rectification, &pct)?;
                ws.write_string_with_format(
                    row,
                    15,
                    if r.no_data { "无考核数据" } else { "" },
                    &cell,
                )?;
                row += 1;
            }
        }
        ws.set_freeze_panes(3, 0)?;
    }
    {
        let ws = list_sheet(
            &mut wb,
            "超期",
            &["责任单位", "检查对象", "问题", "整改期限（北京时间）"],
            30,
            &head,
        )?;
        for (i, o) in b.overdue_named.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write_string_with_format(r, 0, &o.unit, &cell)?;
            ws.write_string_with_format(r, 1, &o.subject, &cell)?;
            ws.write_string_with_format(r, 2, &o.item, &cell)?;
            ws.write_string_with_format(r, 3, &o.deadline, &cell)?;
        }
    }
    {
        let ws = list_sheet(
            &mut wb,
            "返工",
            &["单位 unit", "名称 name", "返工 reworks", "应结 due"],
            20,
            &head,
        )?;
        for (i, w) in b.reworks.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write_string_with_format(r, 0, &w.unit, &cell)?;
            ws.write_string_with_format(r, 1, &w.name, &cell)?;
            ws.write_number_with_format(r, 2, w.reworks as f64, &cell)?;
            ws.write_number_with_format(r, 3, w.orders_due as f64, &cell)?;
        }
    }
    {
        let ws = list_sheet(
            &mut wb,
            "返工明细",
            &[
                "责任单位",
                "检查对象",
                "问题",
                "整改期限（北京时间）",
                "返工次数",
            ],
            30,
            &head,
        )?;
        for (i, o) in b.reworked.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write_string_with_format(r, 0, &o.unit, &cell)?;
            ws.write_string_with_format(r, 1, &o.subject, &cell)?;
            ws.write_string_with_format(r, 2, &o.item, &cell)?;
            ws.write_string_with_format(r, 3, &o.deadline, &cell)?;
            ws.write_number_with_format(r, 4, f64::from(o.reworks), &cell)?;
        }
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("说明")?;
        ws.set_column_width(0, 100)?;
        ws.write_string(
            0,
            0,
            format!(
                "{} {} 印发日期 {}；审计链头 audit chain head: {}",
                b.header.issuer, b.header.number, b.header.issued_on, b.audit_head
            ),
        )?;
        ws.write_string(
            1,
            0,
            "指标口径见 docs/scoring.md；得分 = 100 × 加权(合规率, 覆盖率, 整改, 证据质量)",
        )?;
    }
    wb.save_to_buffer()
}

/// A sheet named `name` with a header row of `headers`, each column `width` wide.
fn list_sheet<'a>(
    wb: &'a mut Workbook,
    name: &str,
    headers: &[&str],
    width: u16,
    head: &Format,
) -> Result<&'a mut rust_xlsxwriter::Worksheet, XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, head)?;
        ws.set_column_width(c as u16, width)?;
    }
    Ok(ws)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart of the scores of one group.
fn bars(rows: &[(String, f64)]) -> String {
    let h = 24 * rows.len().max(1) + 20;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{h}\" role=\"img\" aria-label=\"score by unit\">"
    );
    for (i, (name, score)) in rows.iter().enumerate() {
        let y = 10 + i * 24;
        let w = (score.clamp(0.0, 100.0) * 4.4).round();
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"170\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"#4a90d9\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{score:.2}</text>",
            y + 12,
            esc(name),
            175.0 + w,
            y + 12
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A line chart of each unit's score month by month.
fn trend(b: &Bulletin) -> String {
    let months: Vec<&str> = {
        let mut m: Vec<&str> = b.trend.iter().map(|p| p.month.as_str()).collect();
        m.sort_unstable();
        m.dedup();
        m
    };
    let units: Vec<&str> = {
        let mut u: Vec<&str> = b.trend.iter().map(|p| p.unit.as_str()).collect();
        u.sort_unstable();
        u.dedup();
        u
    };
    let (w, h) = (640.0, 240.0);
    let x = |i: usize| 40.0 + (w - 60.0) * i as f64 / (months.len().max(2) - 1) as f64;
    let y = |s: f64| h - 20.0 - (h - 40.0) * s.clamp(0.0, 100.0) / 100.0;
    let palette = [
        "#4a90d9", "#d94a4a", "#4ad97a", "#d9a74a", "#8e4ad9", "#4ad9d0", "#777777",
    ];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"trend\">\
         <line x1=\"40\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>",
        h - 20.0,
        w - 20.0,
        h - 20.0
    );
    for (i, m) in months.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"10\">{m}</text>",
            x(i) - 18.0,
            h - 5.0
        ));
    }
    for (k, u) in units.iter().enumerate() {
        let pts: Vec<String> = months
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                b.trend
                    .iter()
                    .find(|p| p.unit == *u && p.month == *m)
                    .map(|p| format!("{:.1},{:.1}", x(i), y(p.score)))
            })
            .collect();
        let color = palette[k % palette.len()];
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            pts.join(" "),
            w - 15.0,
            14.0 + 12.0 * k as f64,
            esc(b.unit_names.get(*u).map_or(*u, String::as_str))
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// `2026-11` as `2026年11月`.
fn month_zh(month: &str) -> String {
    match month.split_once('-') {
        Some((y, m)) => format!("{y}年{}月", m.trim_start_matches('0')),
        None => month.to_owned(),
    }
}

/// An alert level as printed.
fn level_zh(level: &str) -> &str {
    match level {
        "yellow" => "黄色预警",
        "orange" => "橙色预警",
        "red" => "红色预警",
        other => other,
    }
}

/// An RFC 3339 time as China Standard Time, `YYYY-MM-DD HH:MM`.
fn local_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| {
            (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_owned())
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// The figures of one row as printed: score and rates, or 无考核数据 across.
fn row_cells(r: &lantian_domain::assessment::BulletinRow, html: &mut String) {
    if r.no_data {
        html.push_str("<td class=\"c\" colspan=\"9\">无考核数据</td>");
        return;
    }
    html.push_str(&format!(
        "<td>{:.2}</td><td>{}</td>",
        r.score,
        r.change
            .map(|c| format!("{c:+.2}"))
            .unwrap_or_else(|| "—".into())
    ));
    for v in [
        r.compliance,
        r.coverage,
        r.rectification,
        r.on_time,
        r.rework,
        r.evidence_quality,
    ] {
        html.push_str(&format!("<td>{}</td>", pct(v)));
    }
    html.push_str(&format!("<td>{}</td>", r.inspections));
}

const FIGURE_HEADS: [&str; 9] = [
    "得分",
    "环比",
    "检查合规率",
    "检查覆盖率",
    "整改得分",
    "按期结案率",
    "返工率",
    "证据质量",
    "检查数",
];

/// The bulletin's stylesheet (A4, the red header of an official document). Inline in the page, so
/// that a saved file stays whole; the Content-Security-Policy allows exactly it by its hash.
pub const BULLETIN_CSS: &str = "@page{size:A4;margin:20mm 15mm}body{font-family:\"Noto Serif CJK SC\",\"Noto Sans CJK SC\",serif;max-width:180mm;margin:0 auto;color:#000;font-size:11pt;line-height:1.6}.head{text-align:center;color:#c00;font-size:24pt;font-weight:bold;letter-spacing:.15em;margin:0}.no{text-align:center;margin:4pt 0 2pt}hr.red{border:0;border-top:2pt solid #c00;margin:0 0 12pt}h1{text-align:center;font-size:16pt;margin:12pt 0}h2{font-size:13pt;margin:14pt 0 6pt}h3{font-size:11pt;margin:10pt 0 4pt}table{width:100%;border-collapse:collapse;font-size:9pt;margin-bottom:8pt}tr{page-break-inside:avoid}th,td{border:.5pt solid #000;padding:2pt 4pt;text-align:right}th{background:#eee;text-align:center}td.t{text-align:left}td.c{text-align:center}.sign{text-align:right;margin-top:24pt}.note{font-size:8pt;color:#444;margin-top:18pt}svg{max-width:100%;height:auto}@media print{.pb{page-break-before:always}}";

/// The CSP source that allows [`BULLETIN_CSS`] and no other style: `'sha256-…'`.
pub fn bulletin_style_source() -> String {
    use base64::Engine;
    use sha2::Digest;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(BULLETIN_CSS))
    )
}

/// The bulletin as the document a bureau issues (考评通报): the issuer's red head, the document
/// number, the title, the city-wide figures, the ranking of each peer group, the alerts of the
/// month, the overdue and rework lists by name, the trend, and the signature with the date of
/// issue. Names only (no codes or ids in the text); times in China Standard Time; prints on A4.
/// Its one stylesheet is [`BULLETIN_CSS`], inline, allowed by hash ([`bulletin_style_source`]).
/// Every text from the database is escaped.
pub fn to_html(b: &Bulletin) -> String {
    let month = month_zh(&b.month);
    let campaign = if b.campaign_name.is_empty() {
        &b.campaign
    } else {
        &b.campaign_name
    };
    let h = &b.header;
    let mut html = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>{no} 关于{c}{m}考评情况的通报</title><style>{css}</style></head><body>\
         <p class=\"head\">{issuer}</p><p class=\"no\">{no}</p><hr class=\"red\">\
         <h1>关于{c}{m}考评情况的通报</h1>\
         <p>各县（市、区）城市管理局，市局各直属单位：</p>\
         <p>现将{m}{c}考评情况通报如下。</p>",
        no = esc(&h.number),
        c = esc(campaign),
        m = esc(&month),
        issuer = esc(&h.issuer),
        css = BULLETIN_CSS,
    );
    let mut section = 0;
    let mut next = |title: &str| {
        section += 1;
        let n = ["一", "二", "三", "四", "五", "六", "七", "八"][(section - 1).min(7)];
        format!("<h2>{n}、{title}</h2>")
    };
    if let Some(r) = &b.summary {
        html.push_str(&next("总体情况"));
        html.push_str(&format!(
            "<table><tr><th>范围</th>{}</tr><tr><td class=\"t\">全市（{}）</td>",
            FIGURE_HEADS
                .iter()
                .map(|x| format!("<th>{x}</th>"))
                .collect::<String>(),
            esc(&r.name)
        ));
        row_cells(r, &mut html);
        html.push_str("</tr></table>");
    }
    html.push_str(&next("考评排名"));
    for g in &b.groups {
        let heading = if g.name_zh.is_empty() {
            &g.group
        } else {
            &g.name_zh
        };
        html.push_str(&format!(
            "<h3>{}</h3><table><tr><th>名次</th><th>单位</th>{}</tr>",
            esc(heading),
            FIGURE_HEADS
                .iter()
                .map(|x| format!("<th>{x}</th>"))
                .collect::<String>()
        ));
        for r in &g.rows {
            html.push_str(&format!(
                "<tr><td class=\"c\">{}</td><td class=\"t\">{}</td>",
                r.rank.map(|x| x.to_string()).unwrap_or_else(|| "—".into()),
                esc(&r.name)
            ));
            row_cells(r, &mut html);
            html.push_str("</tr>");
        }
        html.push_str("</table>");
        let scored: Vec<(String, f64)> = g
            .rows
            .iter()
            .filter(|r| !r.no_data)
            .map(|r| (r.name.clone(), r.score))
            .collect();
        html.push_str(&bars(&scored));
    }
    if !b.alerts.is_empty() {
        html.push_str(&next("重污染天气预警"));
        html.push_str(
            "<p>预警期间，预警区域内检查频次要求相应提高，违规扣分加权计算。</p>\
             <table><tr><th>级别</th><th>区域</th><th>开始</th><th>结束</th><th>本月天数</th></tr>",
        );
        for a in &b.alerts {
            let region: Vec<&str> = a
                .units
                .iter()
                .map(|u| b.unit_names.get(u).map_or(u.as_str(), String::as_str))
                .collect();
            html.push_str(&format!(
                "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
                esc(level_zh(&a.level)),
                esc(&region.join("、")),
                esc(&local_time(&a.starts_at)),
                esc(&local_time(&a.ends_at)),
                a.days
            ));
        }
        html.push_str("</table>");
    }
    html.push_str(&next("超期未整改问题"));
    if b.overdue_named.is_empty() {
        html.push_str("<p>本月无超期未整改问题。</p>");
    } else {
        html.push_str("<table><tr><th>序号</th><th>责任单位</th><th>检查对象</th><th>问题</th><th>整改期限</th></tr>");
        for (i, o) in b.overdue_named.iter().enumerate() {
            html.push_str(&format!(
                "<tr><td class=\"c\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td></tr>",
                i + 1,
                esc(&o.unit),
                esc(&o.subject),
                esc(&o.item),
                esc(&o.deadline)
            ));
        }
        html.push_str("</table>");
    }
    html.push_str(&next("整改返工问题"));
    if b.reworked.is_empty() {
        html.push_str("<p>本月到期整改事项无返工。</p>");
    } else {
        html.push_str("<table><tr><th>序号</th><th>责任单位</th><th>检查对象</th><th>问题</th><th>整改期限</th><th>返工次数</th></tr>");
        for (i, o) in b.reworked.iter().enumerate() {
            html.push_str(&format!(
                "<tr><td class=\"c\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
                i + 1,
                esc(&o.unit),
                esc(&o.subject),
                esc(&o.item),
                esc(&o.deadline),
                o.reworks
            ));
        }
        html.push_str("</table>");
    }
    if !b.trend.is_empty() {
        html.push_str(&next("得分趋势"));
        html.push_str(&trend(b));
    }
    html.push_str(&format!(
        "<p class=\"sign\">{}<br>{}</p>\
         <p class=\"note\">考评口径见《考评计分办法》；得分由未修约的各项比率计算，保留两位小数。\
         本通报依据第 {} 版正式考评数据，数据校验值（审计链头）：{}</p></body></html>\n",
        esc(&h.signature),
        esc(&h.issued_on),
        b.revision,
        esc(&b.audit_head)
    ));
    html
}
