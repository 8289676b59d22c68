// Shared code of the customer's and the agent's page: token, language, WebRTC, polling.
// Plain JS, no framework. The token comes from the link's fragment (#token=...), so it is
// never sent in a URL to the server; requests carry it as X-Video-Token.
"use strict";

const TEXT = {
  "zh-CN": {
    title_customer: "远程双录面签",
    title_agent: "双录面签 · 坐席",
    camera: "请允许使用摄像头和麦克风",
    waiting: "等待对方加入…",
    connected: "已连接",
    reconnecting: "连接中断，正在重连…",
    read: "已宣读",
    confirm: "我已知悉并确认",
    confirmed: "已确认",
    decline: "我不同意，结束面签",
    mark_read: "标记已宣读",
    complete: "结束面签",
    refused: "客户拒绝",
    ended: "面签已结束",
    completed: "面签已完成，谢谢！",
    declined: "面签已终止。",
    expired: "面签链接已过期。",
    failed: "面签保存失败，请联系银行。",
    finishing: "正在保存录像…",
    no_token: "链接无效：缺少令牌。",
    you: "本人",
    other_customer: "客户",
    other_agent: "银行坐席",
    language: "English",
  },
  en: {
    title_customer: "Remote signing (dual recording)",
    title_agent: "Dual recording · agent",
    camera: "Please allow the camera and microphone",
    waiting: "Waiting for the other side…",
    connected: "Connected",
    reconnecting: "Connection lost, reconnecting…",
    read: "Read",
    confirm: "I understand and confirm",
    confirmed: "Confirmed",
    decline: "I do not agree: end the session",
    mark_read: "Mark as read",
    complete: "End session",
    refused: "Customer refused",
    ended: "The session has ended",
    completed: "The session is complete. Thank you!",
    declined: "The session was ended.",
    expired: "This link has expired.",
    failed: "The session could not be saved; please contact the bank.",
    finishing: "Saving the recordings…",
    no_token: "Invalid link: the token is missing.",
    you: "You",
    other_customer: "Customer",
    other_agent: "Bank agent",
    language: "中文",
  },
};

const FINAL = ["completed", "declined", "expired", "failed"];

function pickLocale() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && TEXT[asked]) return asked;
  return (navigator.language || "zh-CN").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

class VideoPage {
  constructor(role, onView) {
    this.role = role;
    this.onView = onView;
    this.token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
    this.locale = pickLocale();
    this.pc = null;
    this.stream = null;
    this.state = "waiting";
    this.iceServers = [];
    this.key = "loanflow-video-connection-" + this.token.slice(-16);
  }

  t(key) {
    return TEXT[this.locale][key] || key;
  }

  async api(method, path, body) {
    const response = await fetch("/api/v1/video" + path, {
      method,
      headers: { "X-Video-Token": this.token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.message || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  status(text) {
    document.getElementById("status").textContent = text;
  }

  async start() {
    document.querySelectorAll("[data-t]").forEach((el) => (el.textContent = this.t(el.dataset.t)));
    if (!this.token) return this.status(this.t("no_token"));
    let view;
    try {
      view = await this.api("GET", "/session?locale=" + this.locale);
    } catch (error) {
      return this.status(error.message);
    }
    this.iceServers = view.ice_servers || [];
    this.render(view);
    if (FINAL.includes(view.state)) return;
    this.status(this.t("camera"));
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
    });
    document.getElementById("local").srcObject = this.stream;
    await this.join();
    this.poll();
  }

  async join() {
    if (this.pc) this.pc.close();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.stream.getTracks().forEach((track) => pc.addTrack(track, this.stream));
    const remote = new MediaStream();
    document.getElementById("remote").srcObject = remote;
    pc.ontrack = (event) => remote.addTrack(event.track);
    pc.onconnectionstatechange = () => this.connectionChanged(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await this.gathered(pc);
    const answer = await this.api("POST", "/join", {
      type: "offer",
      sdp: pc.localDescription.sdp,
      resume: sessionStorage.getItem(this.key),
    });
    sessionStorage.setItem(this.key, answer.connection_id);
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  gathered(pc) {
    // the server takes one offer with all candidates (no trickle): wait, at most 3 s
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => pc.iceGatheringState === "complete" && resolve();
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000);
    });
  }

  connectionChanged(pc) {
    if (pc !== this.pc || FINAL.includes(this.state)) return;
    if (pc.connectionState === "connected") this.status(this.t("connected"));
    if (pc.connectionState === "failed") {
      this.status(this.t("reconnecting"));
      setTimeout(() => this.join().catch((e) => this.status(e.message)), 1000);
    }
  }

  async poll() {
    while (!FINAL.includes(this.state)) {
      try {
        this.render(await this.api("GET", "/session?locale=" + this.locale));
      } catch (error) {
        this.status(error.message);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    this.stop();
  }

  render(view) {
    this.state = view.state;
    document.body.dataset.state = view.state;
    if (FINAL.includes(view.state) || view.state === "finishing") {
      this.status(this.t(view.state));
    }
    this.onView(view);
  }

  async act(path) {
    try {
      await this.api("POST", path);
      this.render(await this.api("GET", "/session?locale=" + this.locale));
    } catch (error) {
      this.status(error.message);
    }
  }

  stop() {
    if (this.pc) this.pc.close();
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    sessionStorage.removeItem(this.key);
  }

  switchLanguage() {
    const url = new URL(location.href);
    url.searchParams.set("lang", this.locale === "en" ? "zh-CN" : "en");
    location.replace(url.toString());
  }
}

function button(text, onClick, testId) {
  const el = document.createElement("button");
  el.textContent = text;
  el.dataset.testid = testId;
  el.addEventListener("click", onClick);
  return el;
}
