// The page frame every UI page shares: header with navigation, one small inline style
// sheet, and the one tiny inline script (copy buttons; every command stays plain text).
// No external assets: hexproxy runs air-gapped.
import { createHash } from 'node:crypto';
import type { Child, FC, PropsWithChildren } from 'hono/jsx';

export type Section = 'packages' | 'setup' | 'status';

export interface Chrome {
  /** Who is looking: a token's name, or undefined for anonymous. */
  tokenName: string | undefined;
  /** Whether signing in could show more (organizations exist, or anonymous reads are off). */
  canSignIn: boolean;
  version: string;
}

const STYLE = `
:root{--fg:#1f1b24;--muted:#696473;--bg:#f6f5f8;--card:#fff;--line:#e3e0e8;--accent:#4b2886;--accent-fg:#fff;--link:#5b33a6;--ok:#17704a;--ok-bg:#e2f3ea;--warn:#855300;--warn-bg:#fcf0d6;--bad:#a1222d;--bad-bg:#fbe4e6;--code:#f0eef4;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#ebe7f1;--muted:#a7a0b3;--bg:#16141b;--card:#1f1c26;--line:#36313f;--accent:#3a2166;--accent-fg:#fff;--link:#c3a8f5;--ok:#7fd8aa;--ok-bg:#183126;--warn:#f2c36a;--warn-bg:#382c12;--bad:#f59aa1;--bad-bg:#3b1c20;--code:#2a2632}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
header.top{background:var(--accent);color:var(--accent-fg)}
header.top .bar{max-width:1100px;margin:0 auto;padding:0 20px;display:flex;flex-wrap:wrap;align-items:center;gap:4px 24px;min-height:56px}
header.top .brand{font-weight:700;font-size:18px;color:var(--accent-fg);letter-spacing:.2px;display:flex;align-items:center;gap:8px}
header.top .brand svg{display:block}
header.top nav{display:flex;gap:4px;flex-wrap:wrap}
header.top nav a{color:var(--accent-fg);opacity:.85;padding:6px 12px;border-radius:6px}
header.top nav a:hover{opacity:1;background:rgba(255,255,255,.12);text-decoration:none}
header.top nav a[aria-current=page]{opacity:1;background:rgba(255,255,255,.2);font-weight:600}
header.top .who{margin-left:auto;font-size:13px;opacity:.9}
header.top .who a{color:var(--accent-fg);text-decoration:underline}
main{max-width:1100px;margin:0 auto;padding:24px 20px 48px}
footer{max-width:1100px;margin:0 auto;padding:0 20px 32px;color:var(--muted);font-size:13px}
h1{font-size:26px;line-height:1.25;margin:0 0 6px}
h2{font-size:19px;margin:32px 0 10px}
h3{font-size:16px;margin:20px 0 8px}
p{margin:8px 0}
.lead{color:var(--muted);margin:0 0 20px}
.muted{color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:14px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:14px;margin:14px 0}
.grid.stats{grid-template-columns:repeat(auto-fit,minmax(160px,1fr))}
.grid .card{margin:0}
.card>h2:first-child{margin-top:0}
.grid>div>h3:first-child{margin-top:0}
.stat .label{color:var(--muted);font-size:13px;text-transform:uppercase;letter-spacing:.4px}
.stat .value{font-size:24px;font-weight:650;margin-top:2px}
.stat .sub{color:var(--muted);font-size:13px}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px;margin:14px 0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:9px 14px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.4px;white-space:nowrap}
tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.nowrap{white-space:nowrap}
tr.retired td:first-child{box-shadow:inset 4px 0 var(--warn)}
tr[data-policy="blocked"] td:first-child{box-shadow:inset 4px 0 var(--bad)}
.policy-reason{font-size:13px;color:var(--bad);margin-top:4px;max-width:48ch}
tr.selected td{background:var(--code)}
th a{color:inherit}
code,pre,kbd{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:13px}
code{background:var(--code);padding:1px 5px;border-radius:4px}
td code.sum{background:none;padding:0;word-break:break-all;font-size:12px;color:var(--muted)}
.code{position:relative;margin:10px 0}
.code pre{background:var(--code);border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:0;overflow-x:auto;white-space:pre}
.code pre code{background:none;padding:0}
.code button.copy{position:absolute;top:8px;right:8px}
button,.button{font:inherit;font-size:13px;padding:5px 12px;border-radius:6px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer}
button:hover{border-color:var(--link)}
form.search{display:flex;gap:8px;flex-wrap:wrap;margin:0 0 8px}
form.search input[type=search]{flex:1 1 260px;font:inherit;padding:8px 12px;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg)}
form.search select{font:inherit;padding:7px 8px;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg)}
form.search button{padding:8px 16px;background:var(--accent);color:var(--accent-fg);border-color:var(--accent);font-size:15px}
.badge{display:inline-block;font-size:12px;font-weight:600;line-height:1;padding:4px 8px;border-radius:999px;background:var(--code);color:var(--muted);white-space:nowrap;vertical-align:1px}
.badge.ok{background:var(--ok-bg);color:var(--ok)}
.badge.warn{background:var(--warn-bg);color:var(--warn)}
.badge.bad{background:var(--bad-bg);color:var(--bad)}
.badge.org{background:var(--accent);color:var(--accent-fg)}
.badge.hosted{background:#0f6e66;color:#fff}
.notice{border-radius:10px;padding:12px 16px;margin:14px 0;border:1px solid var(--line);background:var(--card)}
.notice.warn{background:var(--warn-bg);border-color:transparent;color:var(--fg)}
.notice.bad{background:var(--bad-bg);border-color:transparent}
.notice.ok{background:var(--ok-bg);border-color:transparent}
.pager{display:flex;gap:12px;align-items:center;margin:8px 0}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:8px;background:var(--muted);vertical-align:0}
.dot.ok{background:var(--ok)}.dot.bad{background:var(--bad)}.dot.warn{background:var(--warn)}
meter{width:100%;height:14px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:6px 18px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;min-width:0;overflow-wrap:anywhere}
ul.deps{list-style:none;padding:0;margin:0;columns:2 260px}
ul.deps li{padding:3px 0;break-inside:avoid}
.title-row{display:flex;flex-wrap:wrap;align-items:baseline;gap:10px}
.error-page{text-align:center;padding:48px 0}
.error-page .status{font-size:56px;font-weight:700;color:var(--muted);line-height:1}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:640px){main{padding:16px 12px 32px}header.top .bar{padding:8px 12px}header.top .who{margin-left:0;width:100%}th,td{padding:8px 10px}h1{font-size:22px}}
`;

// Shows the copy buttons (hidden without JavaScript) and copies a block's text; where the
// clipboard API is not allowed (plain http), selects the text and tries the old command.
const SCRIPT = `for(const b of document.querySelectorAll('button[data-copy]')){b.hidden=false;b.addEventListener('click',async()=>{const el=document.getElementById(b.dataset.copy);if(!el)return;let ok=false;try{await navigator.clipboard.writeText(el.textContent||'');ok=true}catch(e){const r=document.createRange();r.selectNodeContents(el);const s=getSelection();s.removeAllRanges();s.addRange(r);try{ok=document.execCommand('copy')}catch(e2){}}b.textContent=ok?'Copied':'Press Ctrl+C';setTimeout(()=>{b.textContent='Copy'},1600)})}`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only this page's own inline style and script run; nothing loads from elsewhere. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src ${hash(STYLE)}`,
  `script-src ${hash(SCRIPT)}`,
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const Logo: FC = () => (
  <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
    <path d="M12 1.5 21.1 6.75v10.5L12 22.5 2.9 17.25V6.75Z" fill="none" stroke="currentColor" stroke-width="2" />
    <path d="M8 8v8M16 8v8M8 12h8" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
  </svg>
);

const NAV: { section: Section; href: string; label: string }[] = [
  { section: 'packages', href: '/ui/packages', label: 'Packages' },
  { section: 'setup', href: '/ui/setup', label: 'Set me up' },
  { section: 'status', href: '/ui/status', label: 'Status' },
];

export const Layout: FC<PropsWithChildren<{ title: string; section?: Section; chrome: Chrome }>> = ({ title, section, chrome, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      <link rel="icon" href="data:," />
      <title>{`${title} · hexproxy`}</title>
      <style dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body>
      <header class="top">
        <div class="bar">
          <a class="brand" href="/ui">
            <Logo />
            hexproxy
          </a>
          <nav aria-label="Main">
            {NAV.map((item) => (
              <a href={item.href} aria-current={item.section === section ? 'page' : undefined}>
                {item.label}
              </a>
            ))}
          </nav>
          <div class="who">
            {chrome.tokenName !== undefined ? (
              <>
                Signed in with token <strong>{chrome.tokenName}</strong>
              </>
            ) : chrome.canSignIn ? (
              <>
                Anonymous · <a href="/ui/login">Sign in with a token</a>
              </>
            ) : (
              <>Anonymous</>
            )}
          </div>
        </div>
      </header>
      <main>{children}</main>
      <footer>hexproxy {chrome.version} · a verifying, re-signing cache of the Hex repository</footer>
      <script dangerouslySetInnerHTML={{ __html: SCRIPT }} />
    </body>
  </html>
);

/** A command or snippet: plain selectable text, with a copy button when JavaScript runs. */
export const CodeBlock: FC<{ id: string; text: string; label?: string }> = ({ id, text, label }) => (
  <div class="code">
    <pre id={id} aria-label={label}>
      <code>{text}</code>
    </pre>
    <button type="button" class="copy" data-copy={id} hidden>
      Copy
    </button>
  </div>
);

export const Badge: FC<{ tone?: 'ok' | 'warn' | 'bad' | 'org' | 'hosted'; title?: string; id?: string; children?: Child }> = ({
  tone,
  title,
  id,
  children,
}) => (
  <span class={tone ? `badge ${tone}` : 'badge'} title={title} id={id}>
    {children}
  </span>
);
