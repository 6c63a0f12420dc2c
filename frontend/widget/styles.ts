// The widget's CSS, inside its shadow root: the page's styles never reach in, ours never leak out.
export const CSS = `
:host{all:initial}
*{box-sizing:border-box;font-family:-apple-system,BlinkMacSystemFont,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif}
.launcher{position:fixed;right:24px;bottom:24px;z-index:2147483000;display:flex;align-items:center;gap:8px;height:52px;padding:0 20px 0 16px;border:0;border-radius:26px;background:#1f6feb;color:#fff;font-size:15px;font-weight:600;box-shadow:0 6px 20px rgba(31,111,235,.4);cursor:pointer}
.launcher:hover{background:#1a5fd0}
.launcher svg{width:24px;height:24px}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#ef4444;color:#fff;font-size:12px;line-height:20px;text-align:center}
.panel{position:fixed;right:24px;bottom:24px;z-index:2147483001;width:370px;height:560px;max-height:calc(100vh - 48px);display:flex;flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;box-shadow:0 12px 40px rgba(15,23,42,.25);color:#1f2937;font-size:14px;line-height:1.5}
.hidden{display:none!important}
.head{display:flex;align-items:center;gap:10px;padding:12px 14px;background:#1f6feb;color:#fff}
.head .avatar{width:34px;height:34px;border-radius:50%;background:rgba(255,255,255,.25);display:flex;align-items:center;justify-content:center;font-weight:600;overflow:hidden;flex:none}
.head .avatar img{width:100%;height:100%;object-fit:cover}
.head .who{flex:1;min-width:0}
.head .name{font-weight:600;font-size:15px}
.head .sub{font-size:12px;opacity:.85;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.head button{border:0;background:rgba(255,255,255,.16);color:#fff;border-radius:6px;padding:4px 8px;font-size:12px;cursor:pointer}
.head button:hover{background:rgba(255,255,255,.3)}
.notice{padding:8px 14px;font-size:12px;background:#fff7ed;color:#9a3412;border-bottom:1px solid #fed7aa}
.notice.info{background:#eff6ff;color:#1e40af;border-color:#bfdbfe}
.body{flex:1;overflow-y:auto;padding:12px 14px;background:#f5f7fa}
.msg{display:flex;flex-direction:column;align-items:flex-start;margin:8px 0;max-width:80%}
.msg.mine{margin-left:auto;align-items:flex-end}
.meta{font-size:11px;color:#9ca3af;margin-bottom:2px}
.bubble{padding:8px 12px;border-radius:12px;background:#fff;border:1px solid #e5e7eb;white-space:pre-wrap;word-break:break-word}
.mine .bubble{background:#1f6feb;border-color:#1f6feb;color:#fff}
.bubble img{max-width:200px;max-height:200px;border-radius:6px;display:block}
.bubble a{color:inherit}
.state{font-size:11px;color:#9ca3af;margin-top:2px}
.state.failed{color:#dc2626;cursor:pointer}
.system{text-align:center;font-size:12px;color:#9ca3af;margin:10px 0}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:12px;margin:10px 0}
.card h4{margin:0 0 6px;font-size:14px}
.card p{margin:0 0 8px;font-size:13px;color:#6b7280}
.scores{display:flex;flex-direction:column;gap:4px;margin-bottom:8px}
.scores label{display:flex;align-items:center;gap:6px;cursor:pointer;font-size:13px}
.stars{color:#f59e0b;letter-spacing:1px}
textarea,input{width:100%;border:1px solid #d1d5db;border-radius:8px;padding:7px 9px;font-size:13px;color:#111827;background:#fff;outline:none;resize:none}
textarea:focus,input:focus{border-color:#1f6feb}
.card textarea,.card input{margin-bottom:8px}
.btn{border:0;border-radius:8px;background:#1f6feb;color:#fff;padding:7px 14px;font-size:13px;cursor:pointer}
.btn:disabled{background:#93b4f0;cursor:default}
.reply{margin-top:6px;padding:6px 8px;border-radius:6px;background:#ecfdf5;color:#065f46;font-size:13px}
.left{font-size:12px;color:#9ca3af}
.foot{border-top:1px solid #e5e7eb;padding:8px 10px;display:flex;gap:6px;align-items:flex-end;background:#fff}
.foot textarea{flex:1;height:40px;max-height:100px}
.icon{border:0;background:none;font-size:20px;cursor:pointer;padding:4px;line-height:1}
.poweredby{text-align:center;font-size:11px;color:#c0c4cc;padding:0 0 6px;background:#fff}
@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;max-height:none;border-radius:0}}
`
