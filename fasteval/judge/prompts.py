"""VLMEvalKit's answer-matching prompts for the judge, verbatim (research/vlmevalkit.md §4.2).

The text is part of the result: a judge asked in other words answers differently, so these strings
(typos, trailing spaces and the `?` always appended to the question included) must not be edited.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_CJK = re.compile("[\u4e00-\u9fff]")

MCQ_EN = (
    "You are an AI assistant who will help me to match "
    "an answer with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, "
    "and you need to find which option is most similar to the answer. "
    "If the meaning of all options are significantly different from the answer, output Z. "
    "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)

# build_prompt_cn: note "例 1:" has no space or newline after it upstream, unlike examples 2 and 3.
MCQ_CN = (
    "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。"
    "你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。"
    "如果所有选项的意义都与答案显著不同，则输出 Z。"
    "你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。"
    "例 1:"
    "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n"
    "例 2: \n"
    "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n"
    "例 3: \n"
    "问题: {}?\n选项: {}\n答案: {}\n输出: "
)

YORN = (
    "You are an AI assistant who will help me to match an answer with two options of a question. "
    "The options are only Yes / No. "
    "You are provided with a question and an answer, "
    "and you need to find which option (Yes / No) is most similar to the answer. "
    "If the meaning of all options are significantly different from the answer, output Unknown. "
    "Your should output a single word among the following 3 choices: Yes, No, Unknown.\n"
    "Example 1: \n"
    "Question: Is the word in this image 'Hello'?\n"
    "Answer: The word in this image is 'Hello'.\nYour output: Yes\n"
    "Example 2: \n"
    "Question: Is the word in this image 'Hello'?\n"
    "Answer: The word in this image is not 'Hello'.\nYour output: No\n"
    "Example 3: \n"
    "Question: {}?\nAnswer: {}\nYour output: "
)


def has_cjk(text: str) -> bool:
    """VLMEvalKit's `cn_string`: any CJK unified ideograph selects the Chinese template."""
    return _CJK.search(text) is not None


def option_str(choices: Mapping[str, str]) -> str:
    """`build_option_str`: a header line, then one `K. text` line per present option."""
    return "There are several options: \n" + "".join(f"{k}. {v}\n" for k, v in choices.items())


def mcq_prompt(question: str, choices: Mapping[str, str], prediction: str) -> str:
    """`extract_answer_from_item`'s prompt: Chinese when the question has CJK; prediction stripped."""
    template = MCQ_CN if has_cjk(question) else MCQ_EN
    return template.format(question, option_str(choices), prediction.strip())


def yorn_prompt(question: str, prediction: str) -> str:
    """`YOrN_match_prompt`: the dataset question and the prediction as stored."""
    return YORN.format(question, prediction)
