print("seer")
