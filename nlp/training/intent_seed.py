"""Hand-written, labelled WeChat-group messages for the intent classes public data lacks. Stdlib only.

The public sets give us commands to a voice assistant (SMP-ECDT: ``request``/``question``), social
chit-chat (LCCC, SMP ``chat``) and ads. Nothing public looks like a group announcement, a job
referral, a shared link with a comment, or an answer to a colleague's question, so these were
written by hand for qunzhi: varied groups (developers and AI, study and exam groups, school
parents, sports and hobby groups, work and business, home owners), varied lengths and registers,
with the typos-free but casual punctuation of real group chat.

Each :class:`Seed` is a base sentence, possibly with ``{slot}`` placeholders, a label, and the
topic category it belongs to (a key of ``nlp.training.corpus.CATEGORIES``) or ``None`` for messages that
fit any group (logistics, system lines). :func:`expand` fills the slots from :data:`SLOTS`
(seeded), so one base gives a few variants; the base sentences themselves are all hand-written.
No seed is about a held-out topic category of the useful task (agriculture, military, travel, car).

How each message was labelled (the rules, in priority order):

1. ``job_post``: offers a position or paid work (招聘, 内推, 岗位, HC, 薪资, base, 实习, 兼职
   家教, a freelance project). A job post with a contact or a link is still ``job_post``; asking
   *for* a referral is a ``request``. Unsolicited promotion of goods, services or other groups
   is ``ad`` and is not written here (the ad sets supply it).
2. ``announcement``: an organiser tells the whole group about a decision, an event, a schedule
   change, a rule or a deadline (群公告, 通知, @所有人, 会议, 活动, 截止, 接龙 sign-ups). A sign-up
   link or meeting id inside it does not make it a ``link_share``.
3. ``link_share``: the message's point is a URL (article, paper, repository, video, document) with
   at most a comment about it. A question *about* a link would be a ``question``.
4. ``request``: asks a member (or the group) to *do* something or *give* something: send a file,
   review a PR, fill a form, pick up a parcel, refer me. Polite question form ("能发我一份吗")
   does not make it a question.
5. ``question``: asks the group for information, advice or an opinion on a matter of substance
   (how, why, which, when, is it true that). Phatic questions ("吃了吗", "在吗", "真的假的") are
   chit-chat, not questions.
6. ``answer``: gives the information an earlier question asked for: a fix, a suggestion, a fact, a
   confirmation with its reason ("是的，需要先…", "可以试试…", "我用的是…版本"). A bare
   acknowledgement ("好的", "收到", "谢谢") is chit-chat; a question back is a question.
7. ``other``: everything with no message of its own: system lines (joined, recalled, pat-pat,
   renamed, muted), media and file placeholders without a comment (``[图片]``, ``[文件] x.pdf``,
   ``[语音]``), red packets and transfers, test messages, stray characters. Stickers and emoji
   (``[表情]``, ``[动画表情]``) are chit-chat, not other: they are a social reply.
8. ``chitchat``: not written here; LCCC, SMP ``chat`` and the phatic list of ``nlp.training.corpus`` cover it.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SEEDS", "SEED_LABELS", "SLOTS", "Seed", "expand", "slots_of"]

SEED_LABELS = ("announcement", "job_post", "link_share", "answer", "question", "request", "other")


@dataclass(frozen=True, slots=True)
class Seed:
    text: str  # hand-written; may hold {slot} placeholders
    label: str  # one of SEED_LABELS
    topic: str | None = None  # a category key of nlp.training.corpus.CATEGORIES, None = fits any group


# --- slot values -------------------------------------------------------------------------------


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


_AZ09 = string.ascii_lowercase + string.digits
_DIGITS = string.digits
_ALNUM = string.ascii_letters + string.digits
_GH_USERS = ("hkust-nlp", "lm-sys", "THUDM", "wangxiaoming", "open-compass", "modelscope", "datawhalechina", "chenjy")
_GH_REPOS = ("llm-cookbook", "pdf2md", "chinese-tokenizer", "fast-rag", "awesome-prompts", "tiny-serve", "eval-kit")
_HF_SETS = ("chat-zh", "dialog-cn", "qa-pairs")
_GOV = ("bj", "sh", "sz", "hz")
_SITES = ("www.xiaoyuzhoufm.com/episode", "sspai.com/post", "www.jianshu.com/p", "juejin.cn/post")

SLOTS: dict[str, tuple[str, ...] | Callable[[random.Random], str]] = {
    "t_time": ("今晚8点", "明天下午3点", "周六上午10点", "本周五晚7点半", "下周一早上9点", "周日下午两点",
               "周四晚上八点半"),
    "t_date": ("3月15日", "本周五", "下周三", "这个月底", "4月30日", "这周日", "11月20日", "下周一"),
    "t_place": ("腾讯会议", "三楼301会议室", "学校报告厅", "飞书线上", "老地方", "图书馆二楼研讨室", "公司大会议室"),
    "name": ("小王", "老张", "阿杰", "琳琳", "大刘", "Kevin", "陈老师", "小周", "萌萌"),
    "name2": ("李雷", "韩梅梅", "老赵", "Amy", "阿飞", "小鱼"),
    "lib": ("PyTorch", "transformers", "vLLM", "LangChain", "FastAPI", "Django", "React", "pandas", "llama.cpp"),
    "ver": ("2.3", "3.11", "4.40", "0.5.1", "12.1", "1.26", "2.1.2"),
    "lang": ("Python", "Go", "Rust", "Java", "C++", "TypeScript"),
    "gpu": ("4090", "3090", "A100", "H100", "A6000", "4060Ti"),
    "model": ("Qwen2.5-7B", "Llama 3 8B", "GLM-4-9B", "DeepSeek-V2-Lite", "Mistral-7B", "Yi-34B"),
    "city": ("北京", "上海", "深圳", "杭州", "成都", "广州", "南京", "武汉", "苏州"),
    "company": ("某大厂", "一家做自动驾驶的公司", "我们公司", "一家AI初创公司", "某外企", "朋友的公司"),
    "tech_role": ("后端开发", "算法工程师", "前端开发", "测试开发", "数据分析师", "运维工程师", "大模型应用开发",
                  "iOS开发"),
    "fin_role": ("行业研究员", "量化研究员", "风控经理", "投资经理助理", "财务分析师"),
    "salary": ("20-35K·15薪", "15-25K", "30-50K·16薪", "薪资面议", "8-12K", "年薪40-60万", "25-40K"),
    "subject": ("数学", "语文", "英语", "物理", "化学"),
    "num": ("2", "3", "4", "5", "6", "8", "10"),
    "file": ("第三季度报表.xlsx", "期末复习提纲.pdf", "报名表.xlsx", "会议纪要.docx", "课件第5讲.pptx",
             "项目周报-第12周.docx", "作业答案.jpg", "合同扫描件.pdf", "值班表.xlsx", "数据集说明.md", "新员工手册.pdf",
             "发票.zip"),
    "group_name": ("2024届三班家长群", "AI技术交流", "周末跑团", "读书会", "7号楼业主群"),
    "meeting_id": lambda r: f"{r.randint(100, 999)} {r.randint(100, 999)} {r.randint(100, 999)}",
    "code": lambda r: _rand(r, string.ascii_uppercase + string.digits, 6),
    "url_gh": lambda r: f"https://github.com/{r.choice(_GH_USERS)}/{r.choice(_GH_REPOS)}",
    "url_arxiv": lambda r: f"https://arxiv.org/abs/{r.randint(2201, 2512)}.{r.randint(1000, 19999):05d}",
    "url_wx": lambda r: "https://mp.weixin.qq.com/s/" + _rand(r, _ALNUM + "-_", 22),
    "url_bili": lambda r: "https://www.bilibili.com/video/BV1" + _rand(r, _ALNUM, 9),
    "url_zhihu": lambda r: f"https://zhuanlan.zhihu.com/p/{r.randint(100_000_000, 999_999_999)}",
    "url_docs": lambda r: "https://docs.qq.com/doc/D" + _rand(r, _ALNUM, 16),
    "url_feishu": lambda r: "https://x.feishu.cn/docx/" + _rand(r, _ALNUM, 20),
    "url_hf": lambda r: f"https://huggingface.co/datasets/{r.choice(_GH_USERS)}/{r.choice(_HF_SETS)}",
    "url_gov": lambda r: f"http://www.{r.choice(_GOV)}.gov.cn/zwgk/{r.randint(2022, 2025)}/{_rand(r, _DIGITS, 6)}.html",
    "url_generic": lambda r: f"https://{r.choice(_SITES)}/{_rand(r, _AZ09, 12)}",
}  # fmt: skip

# --- the seeds ---------------------------------------------------------------------------------

ANN, JOB, LINK, ANS, QUE, REQ, OTH = "announcement", "job_post", "link_share", "answer", "question", "request", "other"

SEEDS: tuple[Seed, ...] = (
    # ---- announcement ---------------------------------------------------------------------
    Seed("@所有人 群公告：本群禁止发广告和拉人，违者直接移出，谢谢配合。", ANN),
    Seed("【通知】{t_date}晚上群里做一次线上分享，主题待定，有想讲的私聊群主报名。", ANN),
    Seed("@所有人 {t_time}在{t_place}开会，请大家准时参加，来不了的提前跟我说一声。", ANN),
    Seed("各位，群文件里更新了最新版的值班表，请自行查看，有冲突的今晚之前找我调换。", ANN),
    Seed("【重要】报名截止时间改到{t_date}中午12点，还没填表的抓紧。", ANN),
    Seed("@所有人 本周六的活动因为天气原因取消，改期另行通知。", ANN),
    Seed("新进群的朋友请把群昵称改成 城市-姓名-方向，方便大家认识。", ANN),
    Seed("群规再说一遍：1. 不发广告 2. 不刷屏 3. 提问前先翻一下聊天记录。", ANN),
    Seed("@所有人 年会定在{t_date}，地点{t_place}，需要统计人数，参加的请接龙。", ANN),
    Seed("会议号：{meeting_id}，{t_time}开始，记得提前五分钟进会。", ANN),
    Seed("#接龙\n周日爬山报名，早上7点地铁站A口集合\n1. {name}\n2. {name2}", ANN),
    Seed("@所有人 本周技术分享：{name}讲《{lib}在生产环境的踩坑记录》，{t_time}，{t_place}。", ANN, "tech"),
    Seed("服务器{t_date}凌晨2点到4点停机维护，期间测试环境不可用，请提前保存好数据。", ANN, "tech"),
    Seed("【版本发布】v{ver} 今晚上线，上线期间大家先别往主分支合代码。", ANN, "tech"),
    Seed("代码评审改成每周二、周四下午，需要评审的PR在群里贴链接排队。", ANN, "tech"),
    Seed("黑客松报名开始啦，三人一队，{t_date}截止，奖金池两万，感兴趣的赶紧组队。", ANN, "tech"),
    Seed("GPU集群下周一开始按组排队，每组每天最多占用{num}张卡，超时的任务会被自动kill。", ANN, "tech"),
    Seed("@所有人 线上事故复盘会改到{t_time}，相关同学务必参加。", ANN, "tech"),
    Seed("测试服的账号密码已经重置，新的放在群文件了，不要外传。", ANN, "tech"),
    Seed("@所有人 群里统一采购的{gpu}已经到货，需要的同学找管理员登记领取。", ANN, "tech"),
    Seed("开源项目今天发布 v{ver}，更新日志见仓库 Release 页面，升级前请先备份配置文件。", ANN, "tech"),
    Seed("@所有人 期中考试安排出来了：{t_date}考{subject}，请同学们认真复习。", ANN, "education"),
    Seed("各位家长好，明天学校组织春游，请给孩子准备好午餐和水，早上7点40到校。", ANN, "education"),
    Seed("@所有人 家长会定在{t_time}，地点在孩子教室，每家至少来一位家长。", ANN, "education"),
    Seed("本周作业已经上传到班级小管家，请家长督促孩子周日晚上之前提交。", ANN, "education"),
    Seed("【通知】下周起午餐费按月收取，每月{num}号前在班级群收款里交。", ANN, "education"),
    Seed("考研打卡群规则：每晚10点前发当天学习时长截图，连续三天没打卡的移出群。", ANN, "education"),
    Seed("各位同学，论文初稿{t_date}截止提交，格式按学院模板，逾期不收。", ANN, "education"),
    Seed("@所有人 明天降温，体育课改成室内课，孩子不用穿运动鞋。", ANN, "education"),
    Seed("英语角{t_time}照常进行，这次的主题是“我最喜欢的一本书”，欢迎带朋友来。", ANN, "education"),
    Seed("班级群请不要发与学习无关的内容，有事请私聊老师，谢谢理解。", ANN, "education"),
    Seed("秋季学期选课系统{t_date}开放，热门课程名额有限，别错过时间。", ANN, "education"),
    Seed("@所有人 今天放学时间调整为4点10分，请家长准时来接孩子。", ANN, "education"),
    Seed("实验室组会每周五下午两点，这周由{name}汇报，请提前把PPT发到群里。", ANN, "education"),
    Seed("周日早上6点半奥森南门集合，15公里慢跑，配速6分左右，有兴趣的一起。", ANN, "sports"),
    Seed("@所有人 羽毛球场地订好了，{t_time}，{num}号场，AA制，每人30。", ANN, "sports"),
    Seed("本月跑量打卡截止到月底，跑满100公里的送定制号码布。", ANN, "sports"),
    Seed("球队周六的友谊赛改到下午4点，请队员3点半到场热身。", ANN, "sports"),
    Seed("比赛报名表收齐了，一共{num}支队伍，分组结果明天公布。", ANN, "sports"),
    Seed("桌游之夜{t_time}在老地方，这次玩阿瓦隆和璀璨宝石，凑满8个人开局。", ANN, "game"),
    Seed("公会战今晚9点开始，所有成员务必在线，连续缺席两次的移出公会。", ANN, "game"),
    Seed("读书会本月共读《百年孤独》，{t_date}线下讨论，请提前读完前十章。", ANN, "culture"),
    Seed("摄影群本月主题是城市夜景，作品{t_date}前发群里，评出三张做公众号封面。", ANN, "culture"),
    Seed("观影团这周看《奥本海默》，{t_time}影院门口集合，票我统一买。", ANN, "entertainment"),
    Seed("@所有人 {t_date}前请把报销单和发票原件交给财务，过期的下个月再处理。", ANN, "finance"),
    Seed("季度业绩会{t_time}召开，会议材料稍后发群里，请提前阅读。", ANN, "finance"),
    Seed("投资人路演{t_date}在{t_place}，需要参会的今天下班前报名。", ANN, "finance"),
    Seed("@所有人 股东大会材料已上传，网络投票截止{t_date}下午5点。", ANN, "stocks"),
    Seed("业主群通知：明天上午9点到下午5点停水，请大家提前储水。", ANN, "realty"),
    Seed("@所有人 物业通知本周六上午进行消防演练，听到警报不要惊慌。", ANN, "realty"),
    Seed("业主大会投票截止到{t_date}，还没投的业主请在小程序里完成投票。", ANN, "realty"),
    Seed("本周例会改到周三上午9点半，请各部门负责人准备好周报。", ANN),
    Seed("【公告】公司{t_date}起搬到新园区B座5楼，门禁卡需要重新登记。", ANN),
    Seed("提醒：下周一开始打卡时间改为9:30，请大家注意。", ANN),
    Seed("群里统一订的年货已经到了，在门卫室，请各位自取。", ANN),
    Seed("志愿者招募：周六上午社区义诊需要5位志愿者，能来的接龙。", ANN),
    Seed("新群成立，请大家先看群公告，自我介绍格式：昵称+行业+所在城市。", ANN),
    Seed("@所有人 本群将于{t_date}解散，后续请移步新群，二维码在群公告里。", ANN),
    Seed("今晚的直播答疑推迟到9点，主讲人临时有事，大家见谅。", ANN),
    Seed("国庆放假安排：10月1日至7日放假，8日正常上班，假期值班表见群文件。", ANN),
    # ---- job_post -------------------------------------------------------------------------
    Seed("【内推】{company}招{tech_role}，base {city}，{salary}，3年以上经验，简历私发我。", JOB, "tech"),
    Seed("我们组在招{tech_role}，{city}，{salary}，熟悉{lang}，有大模型项目经验优先，感兴趣的私我。", JOB, "tech"),
    Seed("招聘 | {tech_role} | {city} | {salary} | 双休、五险一金，JD见下图，欢迎自荐或推荐。", JOB, "tech"),
    Seed("部门HC放出来了：{tech_role}两个、实习生三个，{city}，有意向的把简历丢给我。", JOB, "tech"),
    Seed("实习内推：{company}暑期实习，{tech_role}方向，日薪400，每周至少到岗4天，26届的同学可以冲。", JOB, "tech"),
    Seed("{company}校招提前批开了，{tech_role}方向，内推码 {code}，有问题随时问我。", JOB, "tech"),
    Seed("招一名前端，会Vue3和TypeScript就行，可远程，{salary}，试用期一个月。", JOB, "tech"),
    Seed("NLP岗位内推，要求发过顶会或者有落地经验，{city}，{salary}，JD我放群文件了。", JOB, "tech"),
    Seed("有兄弟想来{city}发展吗？我们招运维，会K8s和Linux就行，{salary}。", JOB, "tech"),
    Seed("找一个能兼职做小程序的开发，按项目付费，预算一万左右，有作品的私聊。", JOB, "tech"),
    Seed("招聘Java高级开发，{city}，{salary}，有金融行业背景优先，可以走内推。", JOB, "tech"),
    Seed("公司扩招，产品经理、UI设计、测试各一名，{city}，{salary}，简历发群主邮箱。", JOB, "tech"),
    Seed("我们实验室招RA，一年期，适合想申博的同学，方向是机器人，有生活补贴。", JOB, "tech"),
    Seed("组里招博后，方向多模态学习，待遇按学校标准，有意者邮件联系{name}。", JOB, "tech"),
    Seed("急招数据标注组长一名，{city}，{salary}，带过10人以上团队优先。", JOB, "tech"),
    Seed("{company}在招嵌入式软件工程师，懂Linux驱动，{city}，{salary}，内推可以加快流程。", JOB, "tech"),
    Seed("创业团队招联合创始人（技术方向），有期权，地点{city}，想聊的可以约个咖啡。", JOB, "tech"),
    Seed("急招！{city}某中学{subject}老师一名，需要教师资格证，待遇面议，麻烦帮忙推荐。", JOB, "education"),
    Seed("诚聘课程顾问两名，{city}校区，底薪加提成，有教培经验优先。", JOB, "education"),
    Seed("找兼职家教，初二{subject}，每周两次，每次两小时，{city}，课时费面议。", JOB, "education"),
    Seed("幼儿园招保育员两名，要有健康证，月薪4500，{city}，包午餐。", JOB, "education"),
    Seed("学校招聘外聘{subject}老师，每周8课时，适合研究生兼职，{city}。", JOB, "education"),
    Seed("培训机构招{subject}老师，全职，寒暑假忙一些，{salary}，{city}。", JOB, "education"),
    Seed("课题组招硕士生助研，做问卷数据整理，每月补助1500，可远程。", JOB, "education"),
    Seed("我们学院行政办招临时助理，为期三个月，主要做材料整理，有意者联系{name}老师。", JOB, "education"),
    Seed("我朋友公司招财务主管，CPA优先，{city}，{salary}，可以帮忙转简历。", JOB, "finance"),
    Seed("私募招{fin_role}，{city}，{salary}，要求熟练Python和数据库。", JOB, "finance"),
    Seed("会计事务所招审计助理，应届生可，{city}，年底双薪。", JOB, "finance"),
    Seed("银行分行招对公客户经理，{city}，{salary}，有同业经验者优先。", JOB, "finance"),
    Seed("保险公司总部招精算助理，精算专业硕士，{city}，{salary}。", JOB, "finance"),
    Seed("券商研究所招{fin_role}，硕士及以上，{city}，实习表现好的可以留用。", JOB, "stocks"),
    Seed("公募基金招交易员助理，有证券从业资格，{city}，{salary}。", JOB, "stocks"),
    Seed("房产门店招经纪人，无责底薪3500，提成另算，{city}，新人有带教。", JOB, "realty"),
    Seed("物业公司招项目经理一名，有住宅项目管理经验，{city}，{salary}。", JOB, "realty"),
    Seed("装修公司招设计师助理，会CAD和SU，{city}，{salary}。", JOB, "realty"),
    Seed("电竞俱乐部招数据分析师和赛训助理，{city}，包住，懂游戏的优先。", JOB, "game"),
    Seed("招聘游戏策划（数值方向），{city}，{salary}，玩过SLG的优先，简历投递邮箱见图。", JOB, "game"),
    Seed("工作室招游戏原画师，外包按张结算，有作品集的私聊我。", JOB, "game"),
    Seed("游戏公司招QA测试，{city}，{salary}，能接受偶尔加班。", JOB, "game"),
    Seed("健身房招私教两名，要有证书，底薪4000加课时提成，{city}。", JOB, "sports"),
    Seed("体育培训机构招篮球教练，周末上课，课时费200每小时，{city}。", JOB, "sports"),
    Seed("游泳馆暑期招救生员，持证上岗，{city}，包工作餐。", JOB, "sports"),
    Seed("影视公司招剪辑师，熟练PR和AE，{city}，{salary}，作品集发邮箱。", JOB, "entertainment"),
    Seed("综艺节目组招导演助理，能接受出差，{city}，{salary}。", JOB, "entertainment"),
    Seed("出版社招文字编辑一名，中文系优先，{city}，双休。", JOB, "culture"),
    Seed("博物馆招讲解员，需要普通话二甲以上，{city}，有事业编。", JOB, "culture"),
    Seed("我们部门缺一个{tech_role}，{city}，{salary}，急招，本周就能安排面试。", JOB, "tech"),
    Seed("帮朋友发个招聘：{city}一家咨询公司招行业分析师，{salary}，应届可投。", JOB, "finance"),
    Seed("有没有想找工作的朋友？{company}招{tech_role}，{salary}，可以内推。", JOB, "tech"),
    Seed("社区医院招护士两名，有执业证，{city}，五险一金。", JOB),
    Seed("公司前台行政招一名，{city}，月薪6000，朝九晚六，双休。", JOB),
    Seed("餐厅招服务员和后厨帮工，{city}，包吃住，月休四天。", JOB),
    Seed("物流园招叉车司机，有证，{city}，月薪8000左右。", JOB),
    Seed("招个周末兼职摄影师，婚礼跟拍，一场800，{city}，需要自带设备。", JOB, "culture"),
    Seed("书店周末招店员，兼职，时薪25，{city}，爱看书的优先。", JOB, "culture"),
    Seed("乐团招大提琴手，每周排练一次，有演出补贴，{city}。", JOB, "culture"),
    Seed("招聘｜{tech_role}｜{city}｜{salary}｜要求本科及以上，3-5年经验，熟悉{lang}。", JOB, "tech"),
    Seed("内推{company}，{tech_role}，{city}，{salary}，走我内推简历直达用人经理。", JOB, "tech"),
    Seed("我们在找一位懂{lib}的同学一起做项目，有偿，按月结算，时间灵活。", JOB, "tech"),
    Seed("直播公司招运营，负责排班和数据复盘，{city}，{salary}，不需要出镜。", JOB, "entertainment"),
    # ---- link_share -----------------------------------------------------------------------
    Seed("这篇讲{lib}显存优化的文章写得挺清楚，推荐 {url_wx}", LINK, "tech"),
    Seed("新论文，长上下文的检索增强，实验做得很扎实 {url_arxiv}", LINK, "tech"),
    Seed("分享个开源项目，本地跑大模型很方便 {url_gh}", LINK, "tech"),
    Seed("{url_gh} 这个仓库收集了很多中文提示词，可以参考一下", LINK, "tech"),
    Seed("官方文档更新了，新版本的迁移指南在这：{url_docs}", LINK, "tech"),
    Seed("大家可以看看这个数据集，中文多轮对话，MIT许可证 {url_hf}", LINK, "tech"),
    Seed("上周分享会的录屏和PPT在这：{url_feishu}", LINK, "tech"),
    Seed("arxiv今天这篇挺有意思：{url_arxiv} 用小模型蒸馏出了接近大模型的效果", LINK, "tech"),
    Seed("{url_gh}\n我写的一个小工具，批量把PDF转成Markdown，欢迎提issue", LINK, "tech"),
    Seed("看到一篇讲怎么写好技术文档的，分享给大家 {url_generic}", LINK, "tech"),
    Seed("这个在线工具可以直接画时序图，挺好用 {url_generic}", LINK, "tech"),
    Seed("{model}的技术报告出来了 {url_arxiv}", LINK, "tech"),
    Seed("这篇把{lib}的源码结构讲透了，适合想贡献代码的同学 {url_zhihu}", LINK, "tech"),
    Seed("B站这个视频从零手写Transformer，讲得很细 {url_bili}", LINK, "tech"),
    Seed("整理了一份{lang}面试题，放在飞书文档了 {url_feishu}", LINK, "tech"),
    Seed("{url_wx}\n这篇讲大模型推理成本的，数据很详实", LINK, "tech"),
    Seed("一个对比各家向量数据库性能的评测，结论挺反直觉的 {url_generic}", LINK, "tech"),
    Seed("这个仓库是{model}的微调脚本，亲测能跑 {url_gh}", LINK, "tech"),
    Seed("B站这个系列讲线性代数讲得特别好，适合入门 {url_bili}", LINK, "education"),
    Seed("转一篇知乎回答，关于要不要读博的，说得挺实在 {url_zhihu}", LINK, "education"),
    Seed("{url_wx}\n教育局刚发的中考政策解读，家长们可以看看", LINK, "education"),
    Seed("这个视频讲小学数学思维训练的，我家孩子看得挺起劲 {url_bili}", LINK, "education"),
    Seed("高考志愿填报的经验贴，干货很多 {url_wx}", LINK, "education"),
    Seed("{url_wx} 这篇关于儿童近视防控的，家长必看", LINK, "education"),
    Seed("整理了一份考研数学的复习时间表，放在腾讯文档了 {url_docs}", LINK, "education"),
    Seed("雅思口语的题库更新了，链接在这 {url_docs}", LINK, "education"),
    Seed("给大家找了一个免费的英语分级阅读网站 {url_generic}", LINK, "education"),
    Seed("分享一篇央行降准的分析，讲得比较透 {url_wx}", LINK, "finance"),
    Seed("个税年度汇算的操作指南，一步步截图的 {url_zhihu}", LINK, "finance"),
    Seed("这篇讲家庭资产配置的，适合刚工作的朋友 {url_wx}", LINK, "finance"),
    Seed("这篇研报把新能源产业链梳理得很全，感兴趣的看看 {url_wx}", LINK, "stocks"),
    Seed("港股打新的规则整理，先收藏了 {url_zhihu}", LINK, "stocks"),
    Seed("今天盘后的复盘视频 {url_bili}", LINK, "stocks"),
    Seed("楼市新政原文链接 {url_gov}", LINK, "realty"),
    Seed("收房验房的清单，照着一项项查就行 {url_zhihu}", LINK, "realty"),
    Seed("这个是我们小区的装修施工管理规定 {url_docs}", LINK, "realty"),
    Seed("跑步入门必看，怎么避免膝盖受伤 {url_zhihu}", LINK, "sports"),
    Seed("今天的比赛集锦 {url_bili}", LINK, "sports"),
    Seed("NBA今天的五佳球，最后一个太离谱了 {url_bili}", LINK, "sports"),
    Seed("马拉松赛前一周的饮食安排，官方跑团发的 {url_wx}", LINK, "sports"),
    Seed("羽毛球握拍和发球的教学视频，讲得很细 {url_bili}", LINK, "sports"),
    Seed("新出的独立游戏试玩视频，画风太好看了 {url_bili}", LINK, "game"),
    Seed("这赛季的版本强势阵容总结 {url_zhihu}", LINK, "game"),
    Seed("桌游规则书的电子版我找到了 {url_docs}", LINK, "game"),
    Seed("推荐个播客，讲宋代历史的，通勤路上听正好 {url_generic}", LINK, "culture"),
    Seed("这个纪录片推荐一下，讲敦煌壁画修复的 {url_bili}", LINK, "culture"),
    Seed("这篇书评把《红楼梦》里的饮食写得很有意思 {url_wx}", LINK, "culture"),
    Seed("摄影后期调色的教程，新手友好 {url_bili}", LINK, "culture"),
    Seed("新电影预告出了 {url_bili} 十一上映", LINK, "entertainment"),
    Seed("这个综艺的幕后花絮太好笑了 {url_bili}", LINK, "entertainment"),
    Seed("转发一篇影评，说出了我想说的 {url_zhihu}", LINK, "entertainment"),
    Seed("报名表在这里，大家填一下：{url_docs}", LINK),
    Seed("{url_generic}", LINK),
    Seed("分享一篇文章 {url_wx}", LINK),
    Seed("刚看到的，挺有意思 {url_bili}", LINK),
    Seed("这个整理得很好，建议收藏 {url_zhihu}", LINK),
    Seed("昨天说的那篇文章找到了：{url_wx}", LINK),
    Seed("{url_wx}\n转给需要的朋友", LINK),
    Seed("原文在这 {url_generic} 大家自己看吧", LINK),
    Seed("今晚讲座的回放出来了，没赶上的可以看 {url_bili}", LINK, "education"),
    # ---- answer ---------------------------------------------------------------------------
    Seed("可以试试把batch size调小一点，再开梯度累积，显存应该就够了。", ANS, "tech"),
    Seed("是的，需要先在环境变量里配好CUDA路径，不然会找不到库。", ANS, "tech"),
    Seed("我用的是{lib} {ver}版本，没遇到这个问题，你升级一下试试。", ANS, "tech"),
    Seed("不用重新装，pip install -U 一下就行。", ANS, "tech"),
    Seed("这个报错一般是版本不匹配，{lib}和CUDA的版本要对应上。", ANS, "tech"),
    Seed("对，要先在设置里打开开发者模式，然后才能看到这个选项。", ANS, "tech"),
    Seed("推荐用conda单独建个环境，别在base里装，冲突会少很多。", ANS, "tech"),
    Seed("我之前也遇到过，把缓存目录删了重新下载模型就好了。", ANS, "tech"),
    Seed("你看下是不是端口被占用了，用netstat查一下。", ANS, "tech"),
    Seed("不需要，本地跑的话{gpu}单卡就够了，7B的量化模型大概占8G显存。", ANS, "tech"),
    Seed("用vLLM部署吞吐会高很多，原生的generate比较慢。", ANS, "tech"),
    Seed("我试过了，Windows上得用WSL2才行，原生跑会报错。", ANS, "tech"),
    Seed("因为那个接口是异步的，你得await一下，不然拿到的是协程对象。", ANS, "tech"),
    Seed("不用管，这个警告可以忽略，不影响结果。", ANS, "tech"),
    Seed("用pandas的groupby再agg一下就行，不用自己写循环。", ANS, "tech"),
    Seed("学习率太大了，微调的话改成2e-5试试。", ANS, "tech"),
    Seed("不是bug，是新版本改了默认参数，更新日志里写了。", ANS, "tech"),
    Seed("两种都行，我们团队是用Docker部署的，维护起来省事。", ANS, "tech"),
    Seed("你把那个配置项改成false就行，我刚试了可以。", ANS, "tech"),
    Seed("建议先看官方教程，文档的 Quick Start 写得很清楚。", ANS, "tech"),
    Seed("{lang}的话用自带的库就够了，简单项目没必要上框架。", ANS, "tech"),
    Seed("它是按token计费的，输入输出分开算，长文本要注意成本。", ANS, "tech"),
    Seed("主要看预算，预算够直接上{gpu}，不够的话先租云服务器试试。", ANS, "tech"),
    Seed("在 Settings - Privacy 里面关掉就行。", ANS, "tech"),
    Seed("我用的是{lang}，主要是生态好，库多。", ANS, "tech"),
    Seed("这个模型可以商用，许可证是Apache 2.0。", ANS, "tech"),
    Seed("你的warmup设得太短了，改成总步数的5%左右试试。", ANS, "tech"),
    Seed("对，数据要先做归一化，不然梯度会很不稳定。", ANS, "tech"),
    Seed("是内存泄漏，那个循环里每次都新建了连接没关。", ANS, "tech"),
    Seed("{model}中文还可以，代码能力一般，看你的场景。", ANS, "tech"),
    Seed("周三下午交，老师昨天在群里说过了。", ANS, "education"),
    Seed("可以的，学校官网有下载入口，在招生信息那一栏。", ANS, "education"),
    Seed("我家孩子用的是人教版，你们学校应该也是。", ANS, "education"),
    Seed("这题先通分，然后两边同时乘以x就出来了。", ANS, "education"),
    Seed("我记得是{t_date}截止，你最好再跟班主任确认一下。", ANS, "education"),
    Seed("没有统一要求，穿校服或者运动服都可以。", ANS, "education"),
    Seed("我家娃以前也这样，后来每天固定半小时亲子阅读，慢慢就好了。", ANS, "education"),
    Seed("要的，实习证明需要盖公司公章，电子版不行。", ANS, "education"),
    Seed("明早8点前到就行，带好准考证和2B铅笔。", ANS, "education"),
    Seed("答案是C，第二问用动能定理，别用牛顿定律硬算。", ANS, "education"),
    Seed("没有了，今年取消了加分政策，只看总分。", ANS, "education"),
    Seed("我当时先考的四级，隔了半年再考六级，复习压力小一点。", ANS, "education"),
    Seed("我们报的是线上课，效果还行，主要看孩子自不自觉。", ANS, "education"),
    Seed("英语二比英语一简单一些，跨考的话看目标院校要求哪个。", ANS, "education"),
    Seed("房贷利率现在首套大概3.5%左右，各家银行略有不同。", ANS, "realty"),
    Seed("不是的，公积金和商贷可以组合，额度按公积金缴存算。", ANS, "realty"),
    Seed("一般先交定金，签合同的时候再付首付，具体看开发商。", ANS, "realty"),
    Seed("我们小区是每月15号交物业费，可以在APP上交。", ANS, "realty"),
    Seed("首付比例现在首套15%，二套25%。", ANS, "realty"),
    Seed("交房后一般半年到一年能拿到房产证，看开发商办得快不快。", ANS, "realty"),
    Seed("可以，发票抬头写公司全称，税号在群文件里。", ANS, "finance"),
    Seed("定投的话建议选宽基指数，别追热点主题。", ANS, "finance"),
    Seed("R3是中等风险，可能亏本金，R2一般波动比较小。", ANS, "finance"),
    Seed("这只票今天跌是因为业绩预告不及预期。", ANS, "stocks"),
    Seed("ETF和普通基金最大的区别是能在场内像股票一样交易。", ANS, "stocks"),
    Seed("分红按股权登记日算，登记日之后买的没有。", ANS, "stocks"),
    Seed("换手率高不一定是坏事，要结合成交量和位置一起看。", ANS, "stocks"),
    Seed("开盘价是9点15到9点25集合竞价产生的。", ANS, "stocks"),
    Seed("跑步膝盖疼一般是跑量加得太快，先减量，多练臀腿力量。", ANS, "sports"),
    Seed("入门先买个三四百的拍子就够用，别一上来就买顶配。", ANS, "sports"),
    Seed("赛前一周把跑量减到平时的一半，最后两天只做轻松跑。", ANS, "sports"),
    Seed("换季的时候鱼不爱开口，可以试试活饵，早上五六点最好。", ANS, "sports"),
    Seed("这个副本要先把声望刷到崇敬才能进。", ANS, "game"),
    Seed("Switch版和PC版存档不通用，别白费功夫了。", ANS, "game"),
    Seed("新手建议先打剧情模式，熟悉操作后再打排位。", ANS, "game"),
    Seed("BOSS二阶段要先打掉两个小怪，不然它会一直回血。", ANS, "game"),
    Seed("那本书有中译本，译林出版的，翻译还不错。", ANS, "culture"),
    Seed("这个镜头对焦慢是正常的，换成单次对焦模式会好很多。", ANS, "culture"),
    Seed("对，就是绿色封面的那个版本，书店和网上都能买到。", ANS, "culture"),
    Seed("先学扫弦，把几个常用和弦练熟了再学指弹。", ANS, "culture"),
    Seed("国内版确实删了几分钟，主要是打斗的镜头。", ANS, "entertainment"),
    Seed("是的，截止时间是晚上12点，不是下午5点。", ANS),
    Seed("报名链接在群公告里，往上翻一下就能看到。", ANS),
    Seed("上次分享的视频在群文件里，文件名是第三期。", ANS),
    Seed("我查了一下，是下周二开始，这周还是老时间。", ANS),
    Seed("一般要两周左右，快的话十天。", ANS),
    Seed("不是哦，那是去年的政策，今年已经调整了。", ANS),
    Seed("要先注册账号，在个人中心绑定手机号，验证码才会发过来。", ANS),
    Seed("有的，地铁直达，出站走五分钟就到。", ANS),
    Seed("是线上的，会议号{meeting_id}，群里发过了。", ANS),
    # ---- question -------------------------------------------------------------------------
    Seed("有人用过{lib}吗？部署到生产环境稳不稳定？", QUE, "tech"),
    Seed("请问大家，{lib} {ver}装完之后import报错是什么原因？", QUE, "tech"),
    Seed("{gpu}跑{model}推理够用吗，需不需要量化？", QUE, "tech"),
    Seed("各位大佬，{lang}里面怎么优雅地处理并发请求啊？", QUE, "tech"),
    Seed("LoRA微调的时候rank一般设多少比较合适？", QUE, "tech"),
    Seed("向量数据库大家用的哪个？Milvus还是pgvector？", QUE, "tech"),
    Seed("为什么我的训练loss一直不降啊，学习率已经调过了", QUE, "tech"),
    Seed("请问这个接口的QPS上限是多少？文档里没写", QUE, "tech"),
    Seed("docker容器里怎么用宿主机的GPU？", QUE, "tech"),
    Seed("有没有大佬讲讲RAG和微调分别适合什么场景？", QUE, "tech"),
    Seed("{model}和GPT-4比起来中文能力怎么样？", QUE, "tech"),
    Seed("群里有做前端的吗？React和Vue现在哪个更好找工作？", QUE, "tech"),
    Seed("github上有没有好用的中文分词工具？", QUE, "tech"),
    Seed("vLLM支持多卡推理吗？需要改什么配置", QUE, "tech"),
    Seed("这个bug是我环境的问题还是代码的问题？大家能复现吗", QUE, "tech"),
    Seed("怎么判断一个开源项目还有没有人维护？看commit频率吗", QUE, "tech"),
    Seed("{lang}新手入门看哪本书比较好？", QUE, "tech"),
    Seed("公司内网部署大模型，数据安全方面要注意些什么？", QUE, "tech"),
    Seed("有没有人知道明天的作业要交几页？", QUE, "education"),
    Seed("请问一下，孩子下周春游需要带什么？", QUE, "education"),
    Seed("今年{city}中考体育满分是多少？有家长知道吗", QUE, "education"),
    Seed("考研英语一和英语二差别大吗？跨考选哪个好？", QUE, "education"),
    Seed("小学一年级需要报课外班吗？大家都怎么安排的", QUE, "education"),
    Seed("孩子不爱写作业，各位家长有什么好办法吗？", QUE, "education"),
    Seed("这次考试范围包括第五章吗？", QUE, "education"),
    Seed("有人知道图书馆周末几点关门吗", QUE, "education"),
    Seed("请问论文查重用知网还是维普，学校认哪个？", QUE, "education"),
    Seed("老师，这道题第二问的答案是不是算错了？", QUE, "education"),
    Seed("下午的讲座还需要签到吗？", QUE, "education"),
    Seed("幼升小需要准备哪些材料？户口本要原件吗", QUE, "education"),
    Seed("{subject}老师说的那本练习册是哪个出版社的？", QUE, "education"),
    Seed("现在{city}首套房贷利率是多少啊？", QUE, "realty"),
    Seed("新房交房验收要注意哪些地方？有经验的分享一下", QUE, "realty"),
    Seed("公积金提取用来还房贷，一年能提几次？", QUE, "realty"),
    Seed("交房之后多久能办房产证啊？", QUE, "realty"),
    Seed("装修的话先买家电还是先定橱柜？", QUE, "realty"),
    Seed("大家觉得现在适合买入指数基金吗？", QUE, "finance"),
    Seed("理财产品R2和R3风险等级差多少？", QUE, "finance"),
    Seed("信用卡分期的实际年化利率怎么算？", QUE, "finance"),
    Seed("发票报销需要纸质版吗，还是电子版就可以？", QUE, "finance"),
    Seed("有没有人了解港股通的开通条件？", QUE, "stocks"),
    Seed("这只股票为啥今天涨停了，有什么消息吗？", QUE, "stocks"),
    Seed("K线图上的MACD金叉怎么看？", QUE, "stocks"),
    Seed("跑完步膝盖外侧疼是怎么回事，要不要去医院看看？", QUE, "sports"),
    Seed("大家马拉松比赛前一周都怎么调整训练量？", QUE, "sports"),
    Seed("国足下一场预选赛什么时候踢？", QUE, "sports"),
    Seed("有人报了这次的半马吗？在哪里领物？", QUE, "sports"),
    Seed("这个游戏的新赛季什么时候开始？", QUE, "game"),
    Seed("PS5和Switch哪个更适合带孩子玩？", QUE, "game"),
    Seed("这个版本的BOSS怎么打啊，我卡了一晚上了", QUE, "game"),
    Seed("有没有推荐的入门相机，预算五千左右？", QUE, "culture"),
    Seed("有人读过《三体》英文版吗，翻译怎么样？", QUE, "culture"),
    Seed("新手练吉他，先学指弹还是扫弦？", QUE, "culture"),
    Seed("这周的读书会是线上还是线下？", QUE, "culture"),
    Seed("这部电影国内上映有删减吗？网上说少了十分钟", QUE, "entertainment"),
    Seed("这个综艺第二季还出吗？", QUE, "entertainment"),
    Seed("谁知道年会是几号？我好提前请假", QUE),
    Seed("明天的会是线上还是线下？", QUE),
    Seed("请问报名截止是几号？", QUE),
    Seed("这个活动需要自己带水吗？", QUE),
    # ---- request --------------------------------------------------------------------------
    Seed("谁有{subject}期末复习资料，能发我一份吗，谢谢！", REQ, "education"),
    Seed("帮忙转发一下，我们小区有只金毛走丢了，谢谢大家", REQ),
    Seed("@{name} 把昨天的会议纪要发一下群里", REQ),
    Seed("谁方便帮我拿一下快递，放在前台了", REQ),
    Seed("麻烦管理员把我拉进二群", REQ),
    Seed("有空的同学帮我看下这个PR，主要改了数据加载部分", REQ, "tech"),
    Seed("求帮忙投个票，第三个是我家孩子的作品", REQ, "education"),
    Seed("老师麻烦把今天作业的答案发一下", REQ, "education"),
    Seed("帮我问问有没有人出二手的{gpu}", REQ, "tech"),
    Seed("大家帮忙填一下这个问卷，五分钟就好，感谢！", REQ),
    Seed("麻烦大家明天之前把身份证号私发给我，订票要用", REQ),
    Seed("能不能把分享的PPT传到群文件里", REQ, "tech"),
    Seed("谁帮我占个座，我八点到", REQ, "education"),
    Seed("求拼车，明早7点从望京到首都机场", REQ),
    Seed("帮我看看这个报错，截图在下面", REQ, "tech"),
    Seed("谁能借我一根Type-C充电线，我在三楼", REQ),
    Seed("帮我推荐几本适合五年级看的课外书", REQ, "education"),
    Seed("下次活动能不能换个时间，周六上午大家都有课", REQ),
    Seed("@{name} 记得把你的代码推到远程分支", REQ, "tech"),
    Seed("群主能不能把上次的录屏再发一下", REQ),
    Seed("谁有{model}的量化版本，给个下载链接呗", REQ, "tech"),
    Seed("麻烦帮我带份午饭，牛肉面，钱我转你", REQ),
    Seed("求组队，缺一个辅助，上分的来", REQ, "game"),
    Seed("帮我盯一下这只票，跌破十块喊我一声", REQ, "stocks"),
    Seed("麻烦有空的家长下周一早上帮忙在校门口值勤", REQ, "education"),
    Seed("谁能帮忙内推一下{company}，简历已经准备好了", REQ, "tech"),
    Seed("把群昵称都改一下吧，不然认不出谁是谁", REQ),
    Seed("@{name} 你那个脚本发我一份", REQ, "tech"),
    Seed("有{city}的朋友吗，帮忙看一下这个小区周边环境", REQ, "realty"),
    Seed("麻烦把报销模板再发一遍，我找不到了", REQ, "finance"),
    # ---- other ----------------------------------------------------------------------------
    Seed("[文件] {file}", OTH),
    Seed("[文件] 会议纪要-{t_date}.docx", OTH),
    Seed("[文件]{file}", OTH),
    Seed("[文件] {file}\n[文件] {file}", OTH),
    Seed('"{name}"撤回了一条消息，重新编辑', OTH),
    Seed('"{name}"通过扫描"{name2}"分享的二维码加入群聊', OTH),
    Seed("[文件] {lib}-{ver}.tar.gz", OTH),
    Seed("[图片]", OTH),
    Seed("[图片][图片][图片]", OTH),
    Seed("[语音]", OTH),
    Seed("[视频]", OTH),
    Seed('"{name}"撤回了一条消息', OTH),
    Seed('"{name}"邀请"{name2}"加入了群聊', OTH),
    Seed("{name}加入了群聊", OTH),
    Seed('"{name2}"被移出群聊', OTH),
    Seed("[红包] 恭喜发财，大吉大利", OTH),
    Seed("[红包] 新年快乐", OTH),
    Seed("[转账] 收到转账200.00元", OTH),
    Seed('"{name}" 拍了拍 "{name2}"', OTH),
    Seed("测试", OTH),
    Seed("测试一下机器人，请忽略", OTH),
    Seed("1", OTH),
    Seed("。", OTH),
    Seed("？", OTH),
    Seed("123456", OTH),
    Seed("[位置] 朝阳区望京SOHO T3", OTH),
    Seed("[名片] {name}", OTH),
    Seed("[聊天记录] 群聊的聊天记录", OTH),
    Seed("[小程序] 接龙管家", OTH),
    Seed("群主已开启全员禁言", OTH),
    Seed('"{name}"修改群名为“{group_name}”', OTH),
    Seed("[音乐] 晴天 - 周杰伦", OTH),
    Seed("[语音通话] 通话时长 03:12", OTH),
    Seed("发错群了，不好意思", OTH),
    Seed("@{name}", OTH),
    Seed("[视频号] {name}的视频", OTH),
    Seed("[直播] {name}正在直播", OTH),
    Seed("群公告已更新，请查看", OTH),
    Seed('"{name}"与群里其他人都不是朋友关系，请注意隐私安全', OTH),
    Seed("以下为新消息", OTH),
    Seed("asdfgh", OTH),
    Seed("[链接] 点击查看详情", OTH),
    Seed("[文件] 课件第{num}讲.pptx", OTH),
)

# --- expansion ---------------------------------------------------------------------------------

_SLOT_RE = re.compile(r"\{(\w+)\}")


def slots_of(seed: Seed) -> tuple[str, ...]:
    """The slot names a seed uses, in order of appearance."""
    return tuple(dict.fromkeys(_SLOT_RE.findall(seed.text)))


def _fill(text: str, rng: random.Random) -> str:
    def one(m: re.Match[str]) -> str:
        values = SLOTS[m.group(1)]
        return values(rng) if callable(values) else rng.choice(values)

    return _SLOT_RE.sub(one, text)


_MENTION_NAMES = ("老张", "阿杰", "琳琳", "Kevin", "小周", "萌萌", "大刘", "群主", "王老师")
_NOTICE_ENDINGS = ("\n收到请回复", " 收到的请回1", " 谢谢配合！", " 互相转告一下")
_CHAT_ENDINGS = ("～", " [抱拳]", " [微笑]", "哈", "！", " 🙏", "[呲牙]")


def _end(text: str, ending: str) -> str:
    """``text`` with ``ending`` appended, its own final full stop dropped first."""
    return text.rstrip("。") + ending


def _decorate(text: str, label: str, rng: random.Random) -> str:
    """The small things that differ between two people writing the same message: a mention, an ending."""
    if label in ("answer", "question", "request"):
        if label == "answer" and not text.startswith("@") and rng.random() < 0.25:
            text = rng.choice(("嗯，", "emm ", "哦这个，", "我理解是")) + text
        elif not text.startswith("@") and rng.random() < 0.5:
            text = f"@{rng.choice(_MENTION_NAMES)} {text}"
        if text.endswith("。") and rng.random() < 0.6:
            text = text[:-1]
        if rng.random() < 0.35:
            text = _end(text, rng.choice(_CHAT_ENDINGS))
    elif label == "announcement":
        if "@所有人" not in text and rng.random() < 0.4:
            text = "@所有人 " + text
        if rng.random() < 0.3:
            endings = [e for e in _NOTICE_ENDINGS if e.strip() not in text]
            text = _end(text, rng.choice(endings)) if text.endswith("。") else text + rng.choice(endings)
    elif label == "job_post" and rng.random() < 0.4:
        text = _end(text, rng.choice(("。（长期有效）", "。欢迎转发", "。感兴趣的私聊", "，有意向的找我")))
    return text


def expand(seed: Seed, rng: random.Random, variants: int = 4) -> list[str]:
    """Up to ``variants`` distinct texts: slots filled and small personal touches added (seeded).

    The first text of a seed without slots is the seed itself. Seeds labelled ``other`` (system
    lines, placeholders) get no personal touches.
    """
    out: list[str] = []
    has_slots = bool(slots_of(seed))
    if not has_slots:
        out.append(seed.text)
        if seed.label == "other":
            return out
    for _ in range(variants * 4):
        if len(out) >= variants:
            break
        text = _fill(seed.text, rng) if has_slots else seed.text
        if not has_slots or rng.random() < 0.5:
            text = _decorate(text, seed.label, rng)
        if text not in out:
            out.append(text)
    return out
