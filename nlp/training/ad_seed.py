"""Hand-written ad examples for the genres the public data lacks, and ordinary look-alikes. Stdlib only.

The public ad sets are 2010s SMS spam, one Minecraft QQ group and game world chat. Today's group ads
are task scams and lures written in current slang ("抖音代发 日结 加我", "评论一条5块", "在家打字就有
米", "小红书发文 3r一篇"), free-material contact harvesting ("加微信领取免费资料"), gambling
promotions (a short domain plus 首充/送/返), phone-card and bank-card agent recruitment, easy loans.
Nothing labelled exists for them, so these were written by hand for qunzhi, with the slang and
evasions seen in groups: r/米/💰 for 元, dd/滴滴/扣1/私/➕ for "contact me", v/vx/薇/V信/绿泡泡 for
WeChat, 企鹅/扣扣 for QQ, a short domain or a bare handle.

Label rule — the product's definition of an ad: **any unsolicited promotion or lure in a group**:
selling goods or services, recruiting for paid tasks (代发, 刷单, 打字, 评论, 点赞, 拉新), gambling,
loans and fraud, account and game-item trade, and contact harvesting (asking members to add a
contact or join another group to receive something). A seed labelled ``normal`` is one of the
texts such a model must not confuse with that: a technical question or answer, a recipe step, an
explanation, a pasted assistant answer, an ordinary mention of money, WeChat, a link or a job in a
conversation, a warning *about* a scam.

Each :class:`AdSeed` is a template with ``{slot}`` placeholders filled from :data:`SLOTS` by
:func:`expand` (seeded), so one template gives a few variants. **Seeds are training data only**: the
corpus puts every seed and its variants in ``train`` and never in ``dev`` or ``test``, so no score
is measured on what was written here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

__all__ = ["AD_SEEDS", "SLOTS", "AdSeed", "expand"]


@dataclass(frozen=True, slots=True)
class AdSeed:
    text: str
    label: str  # "ad" | "normal"
    genre: str  # task_scam, harvest, gambling, fraud, loan, card_agent, trade, selling; or the normal kind


SLOTS: dict[str, tuple[str, ...]] = {
    "plat": ("抖音", "快手", "小红书", "B站", "视频号", "dy", "ks", "xhs", "淘宝", "拼多多", "美团", "大众点评"),
    "n": ("3", "5", "8", "10", "15", "20", "30", "50", "80", "100", "200", "300", "500"),
    "big": ("200", "300", "500", "800", "1000", "2000", "3000", "5000"),
    "unit": ("元", "块", "r", "米", "💰", "R", "圆", "大洋", "Y"),
    "add": ("加我", "➕我", "+我", "私我", "滴滴", "dd", "扣1", "戳我", "找我", "私聊", "滴我", "call我", "来",
            "私信", "加v", "➕v", "+v", "加薇", "加威"),
    "wx": ("vx", "v", "V", "wx", "薇", "威信", "V信", "绿泡泡", "微", "卫星", "vx号", "微❤"),
    "handle": ("abc12345", "wxid_k8s2m", "lj88669", "tt_2024a", "Yy520888", "xiaoli0618", "ck99887", "m13579q",
               "hh6688x", "dd2580z"),
    "qq": ("2038395097", "1587234690", "3396418902", "916243857", "2760015634"),
    "dom": ("bet8.cc", "vip88.top", "hg6.me", "xpj7.vip", "am888.co", "jb5.xyz", "ty66.cc", "kk9.in",
            "lh3.top", "ag77.net", "8k.la", "yl6.pw"),
    "game": ("百家乐", "棋牌", "捕鱼", "体育", "电子", "真人", "彩票", "快三", "牛牛", "老虎机"),
    "thing": ("考研资料", "考公资料", "Python课程", "PS教程", "剪辑教程", "英语资料", "副业资料", "网课",
              "PPT模板", "简历模板", "AI教程", "高考资料", "四六级真题", "会计课程"),
    "hours": ("1", "1-2", "2", "半", "两", "一两"),
    "tech": ("Python", "Java", "Go", "Rust", "C++", "JavaScript", "Vue", "React", "MySQL", "Redis", "Docker",
             "Linux", "PyTorch", "Spring Boot"),
    "dish": ("红烧肉", "番茄炒蛋", "可乐鸡翅", "宫保鸡丁", "麻婆豆腐", "酸菜鱼", "糖醋排骨", "土豆炖牛肉"),
}  # fmt: skip

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _s(label: str, genre: str, *texts: str) -> list[AdSeed]:
    return [AdSeed(t, label, genre) for t in texts]


_GROUPS: tuple[list[AdSeed], ...] = (
    # ---- ads: paid tasks and recruitment scams, today's slang --------------------------------
    _s(
        "ad",
        "task_scam",
        "{plat}代发 日结 {add}",
        "{plat}代发，一单{n}{unit}，日结，有手机就行，{add}",
        "招{plat}代发，不压钱，当天结，想做的{add}",
        "评论一条{n}{unit} 做的{add}",
        "评论一条5块 做的滴滴",
        "{plat}评论员，一条{n}{unit}，手机操作，{add}",
        "点赞关注一个{n}{unit}，日结不拖，{add}",
        "在家打字就有米 {add}",
        "在家打字就有{unit}，宝妈学生都能做，{add}",
        "打字员招聘，日入{big}+，手机就能做，{wx}：{handle}",
        "{plat}发文 {n}r一篇",
        "小红书发文 3r一篇 要的{add}",
        "{plat}发笔记，{n}{unit}一篇，素材我给，{add}",
        "招兼职，每天{hours}小时，日赚{big}，不收任何费用，{wx}{handle}",
        "一天一小时，一天几百块，感兴趣的{add}",
        "一部手机，每天{hours}小时，轻松日入{big}，{add}了解",
        "手机就能做的副业，时间自由，多劳多得，{wx}: {handle}",
        "招聘手工活外发，在家就能做，计件结算，{add}",
        "抄书员招聘，一本{big}{unit}，{wx}{handle}",
        "招录音员，读一段{n}{unit}，日结，{add}",
        "拉新一个{n}{unit}，秒结，{plat}、支付宝都有单，{add}",
        "刷单返利，佣金{n}%，垫付{big}返{big}，{add}",
        "有没有想做兼职的，简单不累，日结{big}，{add}",
        "宝妈学生党看过来，{plat}点赞员，一单{n}{unit}，{wx}{handle}",
        "缺人！{plat}短视频剪辑，有手就会，一条{n}{unit}，{add}",
        "接单群招人，躺着赚{unit}，进群领任务 {qq}",
        "聊天陪玩招人，会打字就行，日结，{add}",
        "需要零花钱的{add}，每天稳定{big}+",
        "0门槛0押金，{plat}任务单，做完就结，{add}",
        "招数据标注员，在家远程，日结{big}{unit}，{wx}：{handle}",
        "{plat}关注一个{n}{unit}，一天能做几十单，{add}",
        "日结{big}，不用拉人不用交钱，手机操作，{add}",
        "招学生兼职，做{plat}任务，{n}分钟一单，{add}",
        "有{plat}号的来，挂号就有{unit}，日结，{add}",
        "出租{plat}账号，一天{n}{unit}，不影响使用，{add}",
        "收{plat}号，{big}{unit}起，老号价高，{add}",
    ),
    # ---- ads: contact harvesting ----------------------------------------------------------------
    _s(
        "ad",
        "harvest",
        "加微信领取免费资料",
        "需要资料的加我微信",
        "加我微信 {handle} 免费领取课程",
        "加 V 信 领 取 免 费 课 程 资 料",
        "需要{thing}的{add}，免费发",
        "{thing}全套免费送，{wx}：{handle}",
        "免费领{thing}，扫码进群",
        "{thing}已整理好，要的{add}，免费",
        "全网最全{thing}，加{wx}{handle}领取",
        "私我免费领{thing}",
        "想要{thing}的扣1，我私发",
        "免费送{thing}，名额有限，{add}",
        "进群领红包，群号{qq}",
        "加我拉你进福利群，每天红包不断",
        "扫码添加客服领取{thing}",
        "{thing}需要的{wx}：{handle}，备注资料",
        "宝子们，{thing}整理好了，评论区扣1我私你",
        "想学{tech}的{add}，免费带，送全套视频",
        "免费直播课，教你做{plat}赚钱，{add}进群",
    ),
    # ---- ads: gambling --------------------------------------------------------------------------
    _s(
        "ad",
        "gambling",
        "{dom} 首充送{n}%",
        "{dom} 首充{big}送{big}",
        "新人注册送{n}，{dom}",
        "{game}天天返水，{dom}",
        "{dom} 充一百送一百，当天可提",
        "{game}上线，首充就送，{dom}",
        "输了包赔，{dom}，首存送{n}%",
        "{game}日返{n}%，提款秒到，{dom}",
        "老哥们，{dom} 首充送88，稳的",
        "稳赚不赔，{game}带单，{add}",
        "{game}计划群，跟单必赚，{add}",
        "注册就送{n}{unit}彩金 {dom}",
        "{dom} 天天送 无限返",
        "靠谱平台，大额无忧，{dom}",
        "想回本的来，{game}导师带你，{add}",
        "{game}包赢技巧，内部计划，{wx}{handle}",
    ),
    # ---- ads: fraud, loans, card agents -----------------------------------------------------------
    _s(
        "ad",
        "card_agent",
        "招手机卡代理，高佣金，{add}",
        "收手机卡，一张{big}{unit}，{add}",
        "收银行卡，一套{big}，{add}",
        "高价收卡，电话卡银行卡都要，{wx}{handle}",
        "流量卡代理招募，一单{n}{unit}，{add}",
        "出租闲置银行卡，月入{big}，{add}",
        "收微信号支付宝号，一个{big}{unit}，{add}",
        "跑分平台招人，躺赚佣金，{add}",
    ),
    _s(
        "ad",
        "loan",
        "急用钱的{add}，不看征信，当天下款",
        "黑户也能贷，{big}到{big}万，{add}",
        "无抵押贷款，秒批秒到，{wx}：{handle}",
        "网贷逾期也能下，{add}",
        "身份证就能借，额度{big}起，{add}",
        "学生贷，不查征信，{add}",
        "信用卡代还，提额套现，{add}",
        "需要资金周转的{add}，利息低到账快",
    ),
    _s(
        "ad",
        "fraud",
        "您的账户存在异常，请添加客服{wx}{handle}处理",
        "恭喜获得{plat}抽奖一等奖，请加{wx}{handle}领取",
        "我是{plat}客服，您的百万保障即将扣费，请联系我取消",
        "内部消息，这只股票明天必涨，{add}进群",
        "投资理财，日收益{n}%，稳赚，{add}",
        "数字货币带单，跟着老师{n}倍收益，{add}",
        "退款理赔，请添加客服{wx}：{handle}",
    ),
    # ---- ads: trade and selling -------------------------------------------------------------------
    _s(
        "ad",
        "trade",
        "出游戏号，{big}{unit}，{add}",
        "卖{plat}会员，一个月{n}{unit}，{add}",
        "视频会员低价出，{n}{unit}一个月，{add}",
        "出各种资源，要的{add}",
        "出皮肤号，全英雄，价格好说，{wx}{handle}",
        "代练上分，{n}{unit}一星，{add}",
        "代写论文，包过，{add}",
        "各种证件代办，{add}",
        "低价出{thing}，{n}{unit}一套，{add}",
        "正品代购，比专柜便宜{n}%，{wx}：{handle}",
        "自家果园水果，产地直发，{add}",
        "减肥产品，一个月瘦{n}斤，{add}",
        "开业大酬宾，全场{n}折，{wx}{handle}",
        "专业刷粉刷赞，{big}粉{n}{unit}，{add}",
        "卖号了，{plat}万粉号，{big}出，{add}",
    ),
    # ---- normal: technical questions and answers ---------------------------------------------
    _s(
        "normal",
        "tech",
        "{tech}里怎么把一个列表去重并保持顺序？",
        "有人用过{tech}吗，部署的时候报内存不够怎么办",
        "请问{tech}的连接池一般设多大合适？",
        "我这段{tech}代码跑了一晚上还没结束，是不是死循环了",
        "{tech}升级到新版本后编译报错，有人遇到过吗",
        "可以先看官方文档，{tech}的配置项里有个timeout，把它调大一点试试",
        "这个问题是因为缓存没清，先把build目录删了再重新编译就好了",
        "时间复杂度是O(n log n)，因为先排序再遍历一遍",
        "用二分查找就行，左闭右开区间，注意循环条件写 left < right",
        "我一般用docker compose起服务，端口映射写在ports下面",
        "有没有推荐的{tech}入门书？想系统学一下",
        "git rebase 和 merge 有什么区别，什么时候用哪个",
        "MySQL索引失效一般有几种情况？面试被问到了",
        "Redis做分布式锁要注意设置过期时间，不然进程挂了锁就永远不释放",
        "报错 ModuleNotFoundError，是虚拟环境没激活吧",
        "显存不够可以把batch size调小，或者开混合精度",
        "这个接口返回500，看日志是空指针，参数没校验",
        "Linux下怎么查看哪个进程占用了8080端口？用 lsof -i:8080",
        "大家写单元测试一般用什么框架？",
        "PR已经提了，麻烦有空帮忙review一下",
        "这道题用动态规划，dp[i]表示以第i个元素结尾的最长子序列长度",
        "我把解释贴一下：首先，HTTP是无状态的协议，所以需要cookie或者token来保存登录状态。其次，token一般放在请求头里。",
    ),
    # ---- normal: recipes, explanations, everyday money and contact talk ----------------------------
    _s(
        "normal",
        "everyday",
        "{dish}怎么做才好吃？我每次都做咸了",
        "{dish}先焯水，再小火炖四十分钟，最后大火收汁",
        "做{dish}的时候糖放多少合适，一勺够吗",
        "今天试了{dish}，按网上的方子做的，还挺成功",
        "这家店人均{n}{unit}左右，味道一般，不太推荐",
        "上次借你的{big}块我转你微信了，查收一下",
        "我微信就是手机号，有事直接打电话",
        "资料我发群文件了，大家自己下载",
        "谁有上次会议的资料？能发我一份吗",
        "这个课程是学校统一买的，不用自己交钱",
        "提醒一下：最近有人冒充客服让加微信退款，都是骗子，大家别信",
        "群里别信那些日结兼职的广告，都是刷单诈骗",
        "看到有人发评论一条5块的，别去，先让你垫钱",
        "孩子的资料费交{n}元，周五前交给班长",
        "周末去爬山，AA，每人大概{n}块",
        "我在{plat}上看到一个教程，讲得挺清楚的",
        "小区门口新开了家超市，东西还挺便宜的",
        "公司今年年终奖发了，比去年多一点",
        "明天下雨，记得带伞",
        "房租涨了{n}{unit}，打算下个月搬家",
        "这篇文章解释得很清楚：通货膨胀就是货币购买力下降，同样的钱能买的东西变少了。",
        "总结一下今天的讨论：第一，需求下周一定稿；第二，测试环境周三前搭好；第三，上线时间待定。",
        "考研资料我用的是学长留下的，笔记比书好用",
        "想问下大家平时在{plat}上都看什么学习类的博主？",
    ),
)
AD_SEEDS: tuple[AdSeed, ...] = tuple(seed for group in _GROUPS for seed in group)
SEED_COUNTS = {lab: sum(s.label == lab for s in AD_SEEDS) for lab in ("ad", "normal")}


def expand(seed: AdSeed, rng: random.Random, variants: int) -> list[str]:
    """Up to ``variants`` distinct fillings of the seed's slots (the text itself when it has none)."""
    if not _SLOT_RE.search(seed.text):
        return [seed.text]
    out: dict[str, None] = {}
    for _ in range(variants * 3):
        text = _SLOT_RE.sub(lambda m: rng.choice(SLOTS[m.group(1)]), seed.text)
        out[text] = None
        if len(out) >= variants:
            break
    return list(out)
